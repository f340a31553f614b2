// The cluster: the leader, every live replica as a card, and which replica serves this page.

/**
 * @import { MemberInfo } from '../../../api/types.js'
 * @import { App, Member, State } from './types.js'
 */

import { api, message } from './api.js';
import { badge, fact, find, h, setText } from './dom.js';
import { since } from './time.js';

/**
 * @param {State} state
 * @param {MemberInfo & { heartbeatAgeMs?: number }} member
 * @param {number} now
 */
function heartbeatAge(state, member, now) {
  if (typeof member.heartbeatAgeMs === 'number') return Math.max(0, member.heartbeatAgeMs);
  const at = Date.parse(member.updatedAt);
  return Number.isFinite(at) ? Math.max(0, now - state.clockSkewMs - at) : 0;
}

/**
 * @param {App} app
 * @param {(MemberInfo & { heartbeatAgeMs?: number })[]} list
 */
export function setMembers(app, list) {
  const now = Date.now();
  app.state.members = [...list]
    .map((m) => ({ ...m, seenAt: now - heartbeatAge(app.state, m, now) }))
    .sort((a, b) => a.id.localeCompare(b.id));
  renderCluster(app);
}

/**
 * `a:leader,b:follower`: the feed reports a change of this, not every heartbeat.
 * @param {MemberInfo[]} members
 */
export function membersSignature(members) {
  return members.map((m) => `${m.id}:${m.state}`).join(',');
}

/** @param {App} app */
export function renderCluster({ state, els }) {
  setText(els.namespace, state.namespace ? `namespace ${state.namespace}` : '');
  document.title = state.namespace ? `baton · ${state.namespace}` : 'baton';
  const leader = state.members.find((m) => m.id === state.leader);
  els.leader.dataset.state = state.leader ? 'elected' : 'none';
  setText(els.leaderId, state.leader ?? 'none');
  setText(
    els.leaderToken,
    state.leader
      ? state.token
        ? `fencing token ${state.token}`
        : ''
      : 'no replica leads: fires wait for an election',
  );

  const items = state.members.map((m) => {
    // Rebuilt only when something other than the heartbeat changed (keeps focus and selection).
    /** @type {Partial<Member>} */
    const record = { ...m };
    delete record.seenAt;
    delete record.heartbeatAgeMs;
    delete record.updatedAt;
    const signature = JSON.stringify([record, leader?.definitionsHash, state.self?.id]);
    let entry = state.memberEls.get(m.id);
    if (!entry || entry.signature !== signature) {
      entry = { el: memberItem(state, m, leader), signature };
      state.memberEls.set(m.id, entry);
    }
    const age = find('.age', HTMLElement, entry.el);
    age.dataset.since = String(m.seenAt);
    setText(age, since(Date.now() - m.seenAt));
    return entry.el;
  });
  for (const id of state.memberEls.keys()) {
    if (!state.members.some((m) => m.id === id)) state.memberEls.delete(id);
  }
  const current = [...els.members.children];
  if (current.length !== items.length || current.some((el, i) => el !== items[i])) {
    els.members.replaceChildren(...items);
  }
  if (state.members.length === 0) {
    els.members.replaceChildren(h('li', { class: 'member empty', text: 'No live replicas.' }));
  }
  renderSelf({ state, els });
}

/**
 * @param {State} state
 * @param {Member} m
 * @param {Member | undefined} leader
 */
function memberItem(state, m, leader) {
  const differs = leader && m.definitionsHash !== leader.definitionsHash;
  const isSelf = state.self?.id === m.id;
  return h(
    'li',
    { class: 'member', 'data-testid': `member-${m.id}`, 'data-state': m.state },
    h(
      'div',
      { class: 'member-head' },
      h('strong', { class: 'member-id', text: m.id }),
      badge(m.state, 'state'),
      isSelf ? h('span', { class: 'tag', text: 'this page' }) : null,
    ),
    h(
      'dl',
      { class: 'facts' },
      fact('Heartbeat', h('span', { class: 'age', 'data-testid': `member-${m.id}-age` })),
      fact('Host', `${m.host} · pid ${m.pid}`),
      fact('Version', m.version),
      fact(
        'Redis',
        h('span', {
          class: m.redisReady ? 'ok' : 'bad',
          text: m.redisReady ? 'reachable' : 'unreachable',
        }),
      ),
      fact(
        'Definitions',
        h('span', {
          class: differs ? 'bad' : '',
          title: m.definitionsHash,
          text: `${String(m.definitionsHash).slice(0, 8)}${differs ? ' (differs from the leader)' : ''}`,
        }),
      ),
    ),
  );
}

/** @param {Pick<App, 'state' | 'els'>} app */
function renderSelf({ state, els }) {
  const self = state.self;
  if (!self) return;
  const member = state.members.find((m) => m.id === self.id);
  const selfState = member?.state ?? self.state;
  setText(
    els.self,
    `This page: ${self.id} (${selfState}${self.ready === false ? ', not ready' : ''})`,
  );
}

/** @param {App} app */
export async function loadStatus(app) {
  const { state, els } = app;
  try {
    const s = await api.status();
    state.namespace = s.namespace;
    state.leader = s.leader ?? null;
    state.token = s.token ?? null;
    state.self = s.self ?? null;
    const sample = (s.members ?? []).find((m) => typeof m.heartbeatAgeMs === 'number');
    const updatedAt = Date.parse(sample?.updatedAt ?? '');
    if (sample && Number.isFinite(updatedAt)) {
      state.clockSkewMs = Date.now() - sample.heartbeatAgeMs - updatedAt;
    }
    state.membersSignature = membersSignature(s.members ?? []);
    setMembers(app, s.members ?? []);
    els.clusterError.hidden = true;
  } catch (err) {
    els.clusterError.hidden = false;
    setText(els.clusterError, `Cluster status unavailable: ${message(err)}`);
  }
}
