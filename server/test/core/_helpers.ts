/** Shared helpers of the calendar-core integration tests (not a test file itself). */
import type { TestEnv } from '../support/harness.js';
import { makeUser, signInHeaders } from '../support/harness.js';

export type Headers = Record<string, string>;

export interface Api {
  get(url: string, headers?: Headers): Promise<Res>;
  post(url: string, payload?: unknown, headers?: Headers): Promise<Res>;
  patch(url: string, payload?: unknown, headers?: Headers): Promise<Res>;
  put(url: string, payload?: unknown, headers?: Headers): Promise<Res>;
  del(url: string, headers?: Headers): Promise<Res>;
}
export interface Res { statusCode: number; body: string; headers: Record<string, unknown>; json(): any }

/** REST client for one signed-in user (paths relative to /api/v1). */
export function api(env: TestEnv, auth: Headers): Api {
  const call = (method: string, url: string, payload?: unknown, headers: Headers = {}) =>
    env.app.inject({ method: method as never, url: url.startsWith('/') && !url.startsWith('/api/') && !url.startsWith('/files/') ? `/api/v1${url}` : url, headers: { ...auth, ...headers }, ...(payload !== undefined ? { payload: payload as never } : {}) }) as unknown as Promise<Res>;
  return {
    get: (u, h) => call('GET', u, undefined, h),
    post: (u, p, h) => call('POST', u, p ?? {}, h),
    patch: (u, p, h) => call('PATCH', u, p, h),
    put: (u, p, h) => call('PUT', u, p, h),
    del: (u, h) => call('DELETE', u, undefined, h),
  };
}

export interface TestUser { id: string; email: string; h: Headers; api: Api; cal: string }

export async function user(env: TestEnv, email: string, name?: string): Promise<TestUser> {
  const row = await makeUser(env.ctx, email, { name: name ?? email.split('@')[0] });
  const h = await signInHeaders(env.app, email);
  const a = api(env, h);
  const cal = (await a.get('/calendars')).json().items.find((c: { isDefault: boolean }) => c.isDefault).id as string;
  return { id: row.id, email, h, api: a, cal };
}

export function ev(summary: string, start: string, end: string, extra: Record<string, unknown> = {}) {
  return { summary, start, end, timezone: 'UTC', ...extra };
}

export async function create(u: TestUser, event: Record<string, unknown>, calendarId = u.cal) {
  const r = await u.api.post('/events', { calendarId, event });
  if (r.statusCode !== 201) throw new Error(`create failed: ${r.statusCode} ${r.body}`);
  return r.json();
}

export async function occurrences(u: TestUser, from: string, to: string, calendars?: string) {
  const r = await u.api.get(`/events?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}${calendars ? `&calendars=${calendars}` : ''}`);
  if (r.statusCode !== 200) throw new Error(`list failed: ${r.statusCode} ${r.body}`);
  return r.json().items as any[];
}

export async function jobs(env: TestEnv, name?: string): Promise<{ task_identifier: string; payload: any; key: string | null; run_at: Date; queue_name: string | null }[]> {
  const { sql } = await import('kysely');
  const r = await sql<any>`select t.identifier as task_identifier, j.payload, j.key, j.run_at, q.queue_name
    from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id
    left join graphile_worker._private_job_queues q on q.id = j.job_queue_id
    ${name ? sql`where t.identifier = ${name}` : sql``} order by j.id`.execute(env.ctx.db);
  return r.rows;
}
