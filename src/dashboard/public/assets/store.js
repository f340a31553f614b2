// The page's state and its elements: made once by app.js, then passed to whoever needs them.

/** @import { Elements, State } from './types.js' */

import { find } from './dom.js';

/** @returns {State} */
export function createState() {
  return {
    namespace: null,
    leader: null,
    token: null,
    members: [],
    membersSignature: null,
    self: null,
    clockSkewMs: 0,
    memberEls: new Map(),
    terms: [],
    leadersTimer: null,
    jobs: new Map(),
    cards: new Map(),
    shownKey: '',
    filter: '',
    filterTimer: undefined,
    fetchedFilter: null,
    jobsTotal: 0,
    earliestNext: Infinity,
    jobsFetch: { timer: null, inFlight: false, again: false, last: 0, cost: 0 },
    liveAt: new Map(),
    pausing: null,
    backfillPolls: new Map(),
    stream: { source: null, connectedOnce: false, retryMs: 1_000 },
  };
}

/**
 * The elements of index.html, each checked to exist with the expected kind.
 * @returns {Elements}
 */
export function findElements() {
  /** @param {string} id */
  const t = (id) => `[data-testid="${id}"]`;
  const notice = find(t('notice'), HTMLElement);
  const leader = find(t('leader'), HTMLElement);
  const connection = find(t('connection'), HTMLElement);
  const dialog = find(t('pause-dialog'), HTMLDialogElement);
  return {
    namespace: find(t('namespace'), HTMLElement),
    connection,
    connectionText: find('.connection-text', HTMLElement, connection),
    self: find(t('self'), HTMLElement),
    notice,
    noticeText: find('.notice-text', HTMLElement, notice),
    noticeClose: find('.notice-close', HTMLButtonElement, notice),
    leader,
    leaderId: find('.leader-id', HTMLElement, leader),
    leaderToken: find('.leader-token', HTMLElement, leader),
    members: find(t('members'), HTMLElement),
    clusterError: find(t('cluster-error'), HTMLElement),
    leaders: find(t('leader-timeline'), HTMLElement),
    jobs: find(t('jobs'), HTMLElement),
    jobsCount: find('.jobs-count', HTMLElement),
    jobsError: find(t('jobs-error'), HTMLElement),
    jobsMore: find(t('jobs-more'), HTMLElement),
    filter: find(t('job-filter'), HTMLInputElement),
    tokenForm: find(t('token-form'), HTMLFormElement),
    tokenInput: find(t('token-input'), HTMLInputElement),
    tokenState: find(t('token-state'), HTMLElement),
    tokenForget: find(t('token-forget'), HTMLButtonElement),
    operator: find(t('operator-input'), HTMLInputElement),
    feed: find(t('feed'), HTMLElement),
    feedEmpty: find('.feed-empty', HTMLElement),
    dialog,
    pauseForm: find('form', HTMLFormElement, dialog),
    pauseJob: find('.pause-job', HTMLElement, dialog),
    pauseReason: find(t('pause-reason'), HTMLInputElement),
    pauseCancel: find(t('pause-cancel'), HTMLButtonElement),
  };
}
