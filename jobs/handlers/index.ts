/**
 * The example handlers built with baton (`dist/jobs/handlers/index.js`), loaded by `baton worker`
 * for the names not taken by the application's own `--handlers` modules.
 */
import type { Handler } from '../../src/index.js';
import { appointmentDialer } from './appointment-dialer.js';
import { etcdDefrag } from './etcd-defrag.js';
import { etcdSnapshot } from './etcd-snapshot.js';
import { heartbeat } from './heartbeat.js';

export { heartbeat } from './heartbeat.js';

export { appointmentDialer, runAppointmentDialer } from './appointment-dialer.js';
export type {
  Appointment,
  AppointmentDialerPayload,
  AppointmentDialerResult,
} from './appointment-dialer.js';
export {
  SnapshotCompactedError,
  applyDeltas,
  etcdSnapshot,
  gcBackups,
  listBackups,
  restorePlan,
  restoreSnapshot,
  runEtcdSnapshot,
  snapshotStatus,
  takeDeltaSnapshot,
  takeFullSnapshot,
} from './etcd-snapshot.js';
export type {
  DeltaEvent,
  DeltaFile,
  DeltaSnapshotResult,
  EtcdSnapshotPayload,
  FullSnapshotFile,
  FullSnapshotResult,
  RestoreSnapshotOptions,
} from './etcd-snapshot.js';
export { EtcdUnhealthyError, etcdDefrag, rollingDefrag, runEtcdDefrag } from './etcd-defrag.js';
export type {
  DefragStep,
  EtcdDefragPayload,
  EtcdDefragResult,
  RollingDefragOptions,
} from './etcd-defrag.js';
export { InvalidPayloadError } from './common.js';

/** `appointment-dialer`, `etcd-snapshot`, `etcd-defrag`. */
export const handlers: Handler[] = [
  appointmentDialer as Handler,
  etcdSnapshot as Handler,
  etcdDefrag as Handler,
  heartbeat as Handler,
];
