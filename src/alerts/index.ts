// Webhook alerts, delivered by the leader: events from the run history and the dead-man check,
// fenced once-per-event delivery records in Redis (docs/architecture.md, "Alerts").
export { Alerts, DEFAULT_MISSED_AFTER_MS, type AlertDelivery, type AlertsDeps } from './service.js';
export {
  formatBody,
  missedRanges,
  runEvents,
  type AlertKind,
  type AlertPayload,
} from './events.js';
