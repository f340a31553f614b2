// Handlers module for `baton worker --handlers` in the benchmark: the `bench` handler records its
// own start (and the run's scheduled instant) and returns at once, like the BullMQ side's
// processor in bench/bullmq-child.mjs.
import { record } from './recorder.mjs';

export const handlers = [
  {
    name: 'bench',
    async run(ctx) {
      record(ctx.scheduledAt.getTime());
      return null;
    },
  },
];
