/**
 * The 'schedule-fanout' job: queues the per-recipient delivery jobs of a large scheduling write
 * (planScheduling deferred them to itip_fanout) in batches, each in its own short transaction
 * that also advances the fan-out's `next` — a crash or retry resumes where it stopped and never
 * queues a delivery twice. The row is deleted with the last batch.
 */
import type { AppContext } from '../context.js';
import { enqueueMany, type JobSpec } from '../../jobs/queue.js';
import type { FanoutPayload } from './scheduling.js';

export const FANOUT_BATCH = 200;

type StoredSpec = Omit<JobSpec, 'runAt'> & { runAt?: string | null };

export async function runFanout(ctx: AppContext, p: FanoutPayload, batch = FANOUT_BATCH): Promise<number> {
  const row = await ctx.db.selectFrom('itip_fanout').select(['jobs', 'next']).where('owner_id', '=', p.ownerId).where('id', '=', p.fanoutId).executeTakeFirst();
  if (!row) return 0;
  const specs = (typeof row.jobs === 'string' ? JSON.parse(row.jobs) : row.jobs) as StoredSpec[];
  let queued = 0;
  for (let done = false; !done;) {
    done = await ctx.db.transaction().execute(async (trx) => {
      const cur = await trx.selectFrom('itip_fanout').select('next').where('owner_id', '=', p.ownerId).where('id', '=', p.fanoutId).forUpdate().executeTakeFirst();
      if (!cur) return true;
      const slice = specs.slice(cur.next, cur.next + batch);
      await enqueueMany(trx, slice.map((s) => ({ ...s, runAt: s.runAt ? new Date(s.runAt) : undefined })));
      queued += slice.length;
      const next = cur.next + slice.length;
      if (next >= specs.length) {
        await trx.deleteFrom('itip_fanout').where('owner_id', '=', p.ownerId).where('id', '=', p.fanoutId).execute();
        return true;
      }
      await trx.updateTable('itip_fanout').set({ next }).where('owner_id', '=', p.ownerId).where('id', '=', p.fanoutId).execute();
      return false;
    });
  }
  return queued;
}
