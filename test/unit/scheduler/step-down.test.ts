import { describe, expect, it } from 'vitest';
import { stepDownCause } from '../../../src/scheduler/replica.js';

describe('stepDownCause', () => {
  it("names the cause from the reason of the leader's last state change", () => {
    const cases: [string, string][] = [
      ['stopped', 'shutdown'],
      ['no keepalive acknowledged within the lease TTL; starting over', 'lease_expired'],
      [
        'lease may have expired (no keepalive acknowledged within the TTL); starting over',
        'lease_expired',
      ],
      [
        'lease lost: We lost connection to etcd and our lease has expired.; starting over',
        'lease_expired',
      ],
      ['own election key was deleted; starting over', 'key_deleted'],
      [
        'fenced commit refused: ns/election/694d7b5 no longer has create revision 42; starting over',
        'fence_refused',
      ],
      ['intent watch failed: 14 UNAVAILABLE; starting over', 'watch_failed'],
      ['watch on own election key failed: stream ended; starting over', 'watch_failed'],
      ['redis unreachable for 2113 ms while r2 reaches it; starting over', 'redis_unreachable'],
      ['14 UNAVAILABLE: No connection established; starting over', 'etcd_error'],
    ];
    for (const [reason, cause] of cases) expect(stepDownCause(reason), reason).toBe(cause);
  });
});
