// An open job's upcoming fires: `upcoming` from the job detail where the API gives it (with the
// instants its calendars or active window exclude, and why), else `nextFires`.

/**
 * @import { JobDetailResponse, UpcomingFire } from '../../../api/types.js'
 */

import { badge, h } from './dom.js';
import { absolute, timeEl } from './time.js';

/**
 * @param {JobDetailResponse} detail
 * @returns {UpcomingFire[]}
 */
export function upcomingOf(detail) {
  return detail.upcoming ?? (detail.nextFires ?? []).map((at) => ({ at }));
}

/**
 * @param {string} name
 * @param {JobDetailResponse} detail
 * @param {string | undefined} zone
 */
export function renderUpcoming(name, detail, zone) {
  const fires = upcomingOf(detail);
  if (fires.length === 0) {
    return h('p', { class: 'muted', text: 'None: the schedule never fires again.' });
  }
  return h(
    'ol',
    { class: 'upcoming', 'data-testid': `job-${name}-upcoming` },
    ...fires.map((f) =>
      h(
        'li',
        {
          class: f.skipped ? 'excluded' : null,
          'data-at': f.at,
          'data-skipped': f.skipped ?? null,
        },
        timeEl(f.at, { future: true, zone }),
        h('span', { class: 'abs', text: absolute(f.at, zone) }),
        f.skipped ? badge('skipped', 'status') : null,
        f.skipped ? h('span', { class: 'skip-reason', text: f.skipped }) : null,
      ),
    ),
  );
}
