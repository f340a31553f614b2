// Types of the dashboard's own objects, for the JSDoc of its modules (checked by
// tsconfig.dashboard.json; never served: the browser loads only the .js files).
import type { HistoryEntry, JobSummary, LeaderTerm, StatusResponse } from '../../../api/types.js';

export type Timer = ReturnType<typeof setTimeout>;

/** A member as shown: `seenAt` is the local instant of its last heartbeat. */
export type Member = Omit<StatusResponse['members'][number], 'heartbeatAgeMs'> & {
  heartbeatAgeMs?: number;
  seenAt: number;
};

/** The page's state: one object, created in app.js and passed to every module that needs it. */
export interface State {
  namespace: string | null;
  leader: string | null;
  token: string | null;
  members: Member[];
  /** `a:leader,b:follower`: the feed reports a change of this, not every heartbeat. */
  membersSignature: string | null;
  self: StatusResponse['self'] | null;
  /**
   * How far this browser's clock is ahead of the cluster's, learnt from /status (which gives
   * each heartbeat's age); `members` events only carry `updatedAt`, a cluster clock reading.
   */
  clockSkewMs: number;
  /** Rendered member items and what they show, so a heartbeat does not rebuild them. */
  memberEls: Map<string, { el: HTMLElement; signature: string }>;
  /** Leadership terms of the cluster timeline, oldest first. */
  terms: LeaderTerm[];
  leadersTimer: Timer | null;
  jobs: Map<string, JobSummary>;
  cards: Map<string, Card>;
  /** The names of the cards in the list, in order. */
  shownKey: string;
  filter: string;
  filterTimer: Timer | undefined;
  /** The filter of the last jobs response, and how many jobs matched it in all. */
  fetchedFilter: string | null;
  jobsTotal: number;
  /** Earliest next fire of any job: once it passes, the jobs are fetched again. */
  earliestNext: number;
  jobsFetch: {
    timer: Timer | null;
    inFlight: boolean;
    again: boolean;
    /** When the last fetch started (epoch ms) and how long it took (ms). */
    last: number;
    cost: number;
  };
  /**
   * When an event (or this page's own change) last set a job's `paused` or `lastRun`: a jobs
   * response requested before that is older on that field and must not undo it.
   */
  liveAt: Map<string, number>;
  /** The job whose pause dialog is open. */
  pausing: string | null;
  /** The pending poll of the backfill each job's form follows, by job name. */
  backfillPolls: Map<string, Timer>;
  stream: { source: EventSource | null; connectedOnce: boolean; retryMs: number };
}

/** The elements of index.html the modules use. */
export interface Elements {
  namespace: HTMLElement;
  connection: HTMLElement;
  connectionText: HTMLElement;
  self: HTMLElement;
  notice: HTMLElement;
  noticeText: HTMLElement;
  noticeClose: HTMLButtonElement;
  leader: HTMLElement;
  leaderId: HTMLElement;
  leaderToken: HTMLElement;
  members: HTMLElement;
  clusterError: HTMLElement;
  leaders: HTMLElement;
  jobs: HTMLElement;
  jobsCount: HTMLElement;
  jobsError: HTMLElement;
  jobsMore: HTMLElement;
  filter: HTMLInputElement;
  tokenForm: HTMLFormElement;
  tokenInput: HTMLInputElement;
  tokenState: HTMLElement;
  tokenForget: HTMLButtonElement;
  operator: HTMLInputElement;
  feed: HTMLElement;
  feedEmpty: HTMLElement;
  dialog: HTMLDialogElement;
  pauseForm: HTMLFormElement;
  pauseJob: HTMLElement;
  pauseReason: HTMLInputElement;
  pauseCancel: HTMLButtonElement;
}

/** A chart drawn into an open job's details (uPlot), kept to be updated in place. */
export interface Chart {
  el: HTMLElement;
  set(entries: HistoryEntry[]): void;
}

/** One job's card: built once, patched in place by `update` so focus and open details stay. */
export interface Card {
  el: HTMLLIElement;
  name: string;
  details: HTMLDetailsElement;
  detailBody: HTMLElement;
  audit: HTMLElement;
  pauseBtn: HTMLButtonElement;
  resumeBtn: HTMLButtonElement;
  triggerBtn: HTMLButtonElement;
  update(job: JobSummary): void;
  detailTimer: Timer | null;
  chart: Chart | null;
  /** When its audit summary was fetched (epoch ms; 0: never). */
  auditAt: number;
  /** Whether the card is on screen (its audit summary is kept fresh only then). */
  visible: boolean;
}

/** What a module may ask of the others without importing them (keeps imports one way). */
export interface Actions {
  askPause(name: string): void;
  resume(name: string): Promise<void>;
  trigger(name: string): Promise<void>;
  loadDetail(name: string): Promise<void>;
  /** Starts keeping the card's audit summary fresh while it is on screen. */
  watch(card: Card): void;
}

/** Everything a module works with, passed explicitly (no module shares state implicitly). */
export interface App {
  state: State;
  els: Elements;
  notify(text: string, kind?: 'ok' | 'error'): void;
  actions: Actions;
}
