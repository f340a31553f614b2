import { currentLeader } from '../coordination/election.js';
import { listMembers, type MemberInfo } from '../coordination/members.js';
import { etcdCall, type ControlContext } from './context.js';

export interface ClusterStatus {
  namespace: string;
  /** Replica id of the leader, or null when no replica leads. */
  leader: string | null;
  /** Fencing token of the leader. */
  token: string | null;
  members: MemberInfo[];
}

/** The leader (lowest campaign key) and every live member, read in one go from etcd. */
export async function getStatus(ctx: ControlContext): Promise<ClusterStatus> {
  return etcdCall(ctx, 'read the status', async () => {
    const [leader, members] = await Promise.all([
      currentLeader(ctx.etcd, ctx.keys),
      listMembers(ctx.etcd, ctx.keys),
    ]);
    return {
      namespace: ctx.config.namespace,
      leader: leader?.id ?? null,
      token: leader?.token ?? null,
      members,
    };
  });
}
