// End to end against the Bot API simulator: reminders (flow 5, with the same validity re-check as
// e-mail), updates (old → new), cancellations (the invitation is edited: "cancelled", no buttons;
// its old buttons then change nothing), the attendee's answer to the organizer in the
// organizer's language, and the `calendula user vkteams` CLI command seen through REST.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestEnv, makeUser, signInHeaders, startTestWorker, eventually, type TestEnv } from '../support/harness.js';
import { BotApiSimulator, type SentRecord } from '../support/vkteams/simulator.js';
import { startSmtpSink, type SmtpSink } from '../support/mail/smtp-sink.js';
import { start as startBot, type RunningBot } from '../../src/roles/bot.js';
import { botDb } from '../../src/app/bot/store.js';
import { fireReminder } from '../../src/app/notify/reminders.js';
import type { ReminderPayload } from '../../src/app/events/reminders.js';
import { sql } from 'kysely';

let env: TestEnv;
let sim: BotApiSimulator;
let sink: SmtpSink;
let worker: { stop(): Promise<void> };
let bot: RunningBot;
const h: Record<string, Record<string, string>> = {};
const ids: Record<string, string> = {};
const cal: Record<string, string> = {};

const sentTo = (chat: string, kind: 'send' | 'edit' = 'send') => sim.sent.filter((s) => s.chatId === chat && s.kind === kind);
const invitationTo = (chat: string, title: string) => sentTo(chat).find((s) => s.text.includes(title) && s.keyboard?.[0]?.length === 3);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function createEvent(who: string, summary: string, start: string, end: string, o: { attendees?: string[]; timezone?: string; rrule?: string; alarms?: { action: 'DISPLAY'; trigger: string }[] } = {}) {
  const res = await env.app.inject({
    method: 'POST', url: '/api/v1/events', headers: h[who],
    payload: { calendarId: cal[who], event: { summary, start, end, timezone: o.timezone ?? 'Europe/Moscow', ...(o.attendees ? { attendees: o.attendees.map((email) => ({ email })) } : {}), ...(o.alarms ? { alarms: o.alarms } : {}), ...(o.rrule ? { rrule: o.rrule } : {}) } },
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { id: string; uid: string };
}

async function copyOf(userId: string, uid: string) {
  return env.ctx.db.selectFrom('calendar_object').selectAll().where('owner_id', '=', userId).where('uid', '=', uid).executeTakeFirst();
}

async function pendingReminder(objectId: string): Promise<ReminderPayload | undefined> {
  // The planned reminder row (migration 0009), as the payload fireReminder takes.
  const r = await sql<{ owner_id: string; object_id: string; fire_at: Date; occurrence_start: Date; recurrence_id: string; action: string; etag: string }>`select * from reminder where object_id = ${objectId}`.execute(env.ctx.db);
  const x = r.rows[0];
  return x && { ownerId: x.owner_id, objectId: x.object_id, fireAt: x.fire_at.toISOString(), occurrenceStart: x.occurrence_start.toISOString(), recurrenceId: x.recurrence_id, action: x.action, etag: x.etag };
}

async function press(chat: string, msg: SentRecord, button: number) {
  const { queryId } = sim.emitCallbackQuery(chat, msg.msgId, msg.keyboard![0][button].callbackData!);
  return eventually(async () => sim.answeredQueries.find((q) => q.queryId === queryId), 10_000, `answer to ${queryId}`);
}

/** "HH:MM" of an instant in a zone. */
const hhmm = (d: Date, tz: string) => new Intl.DateTimeFormat('en-GB', { timeZone: tz, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(d);
/** The REST local-time form (YYYY-MM-DDTHH:mm:ss) of an instant in UTC. */
const utcLocal = (d: Date) => d.toISOString().slice(0, 19);

beforeAll(async () => {
  sim = await BotApiSimulator.start();
  sink = await startSmtpSink();
  env = await createTestEnv({
    mailDomains: ['example.com'], dataDir: `/tmp/calendula-test-botflows-${process.pid}`, smtpUrl: sink.url,
    vkteamsApiUrl: sim.baseUrl, vkteamsBotToken: sim.token, publicUrl: 'https://cal.example.com', notifyCoalesceSeconds: 1,
  });
  for (const [n, lang] of [['anna', 'en'], ['boris', 'ru'], ['carol', 'en']] as const) {
    const u = await makeUser(env.ctx, `${n}@example.com`, { name: n[0].toUpperCase() + n.slice(1) });
    await env.ctx.db.updateTable('principal').set({ language: lang, timezone: 'Europe/Moscow' }).where('id', '=', u.id).execute();
    ids[n] = u.id;
  }
  ids.admin = (await makeUser(env.ctx, 'admin@example.com', { admin: true })).id;
  worker = await startTestWorker(env);
  bot = await startBot(env.ctx, { lockRetryMs: 300, pollTime: 1 });
  for (const n of ['anna', 'boris', 'carol', 'admin']) {
    h[n] = await signInHeaders(env.app, `${n}@example.com`);
    cal[n] = (await env.app.inject({ method: 'GET', url: '/api/v1/calendars', headers: h[n] })).json().items[0]?.id;
  }
  sim.emitNewMessage('anna@example.com', '/start', { firstName: 'Anna' });
  sim.emitNewMessage('boris@example.com', '/start', { firstName: 'Борис' });
  await eventually(async () => sentTo('anna@example.com').find((s) => s.text.includes('Hello')), 10_000, 'anna linked');
  await eventually(async () => sentTo('boris@example.com').find((s) => s.text.includes('Здравствуйте')), 10_000, 'boris linked');
});

afterAll(async () => {
  await bot?.stop();
  await worker?.stop();
  await env?.close();
  await sim?.close();
  await sink?.close();
});

describe('reminders in VK Teams (flow 5)', () => {
  it('a VALARM a few seconds ahead reaches the linked user in their language (and by e-mail)', async () => {
    const start = new Date(Date.now() + 10 * 60_000 + 5_000);
    const ev = await createEvent('boris', 'Звонок с клиентом', utcLocal(start), utcLocal(new Date(start.getTime() + 30 * 60_000)), { timezone: 'UTC', alarms: [{ action: 'DISPLAY', trigger: '-PT10M' }] });
    const p = await pendingReminder(ev.id);
    expect(p?.fireAt).toBeTruthy();
    expect(Math.abs(Date.parse(p!.fireAt!) - (start.getTime() - 10 * 60_000))).toBeLessThan(1500);
    const msg = await eventually(async () => sentTo('boris@example.com').find((s) => s.text.startsWith('⏰') && s.text.includes('Звонок с клиентом')), 25_000, 'reminder in VK Teams');
    expect(msg.parseMode).toBe('HTML');
    expect(msg.text).toContain('начнётся через 10 мин');
    // In the user's zone, not UTC ("23:50–00:20", or "23:50 – <next day>, 00:20" across midnight).
    expect(msg.text).toMatch(new RegExp(`${hhmm(start, 'Europe/Moscow')} ?–`));
    expect(msg.text).toContain('https://cal.example.com/?event=');
    expect(msg.keyboard ?? []).toHaveLength(0);
    // E-mail goes out as well (the same reminder, both channels).
    await sink.waitFor((m) => m.some((x) => x.envelope.to.includes('boris@example.com') && (x.parsed?.subject ?? '').includes('Звонок с клиентом')), 15_000);
    // The bot's message log row is written after the messenger answered: it may land a moment later.
    const logged = await eventually(() => botDb(env.ctx.db).selectFrom('bot_message').selectAll().where('owner_id', '=', ids.boris).where('kind', '=', 'reminder').where('msg_id', '=', msg.msgId).executeTakeFirst()
      .then((r) => (r && r.outcome !== 'sending' ? r : undefined)), 10_000, 'bot message logged');
    expect(logged.outcome).toBe('sent');
    // The delivery log of a reminder batch is written in groups while it sends (DeliveryLogBuffer),
    // so the row may land a moment after the message reached the messenger.
    const delivery = await eventually(async () => {
      const rows = await env.ctx.db.selectFrom('delivery_log').selectAll().where('channel', '=', 'messenger').where('kind', '=', 'reminder').where('object_id', '=', ev.id).execute();
      return rows.length ? rows : undefined;
    }, 10_000, 'messenger delivery logged');
    expect(delivery.map((d) => [d.status, d.message_id])).toEqual([['sent', msg.msgId]]);
  });

  it('a moved meeting re-plans and sends nothing now; the re-planned reminder is the one that goes out', async () => {
    const start = new Date(Date.now() + 2 * 3600_000);
    start.setUTCSeconds(0, 0);
    const ev = await createEvent('boris', 'Перенесённая встреча', utcLocal(start), utcLocal(new Date(start.getTime() + 3600_000)), { timezone: 'UTC', alarms: [{ action: 'DISPLAY', trigger: '-PT10M' }] });
    const old = (await pendingReminder(ev.id))!;
    expect(old.fireAt).toBe(new Date(start.getTime() - 10 * 60_000).toISOString());
    const moved = new Date(start.getTime() + 3600_000);
    const patch = await env.app.inject({ method: 'PATCH', url: `/api/v1/events/${ev.id}`, headers: h.boris, payload: { event: { start: utcLocal(moved), end: utcLocal(new Date(moved.getTime() + 3600_000)), timezone: 'UTC' } } });
    expect(patch.statusCode, patch.body).toBe(200);
    // The old job fires anyway (as if it had been picked up before the move): nothing is sent.
    expect(await fireReminder(env.ctx, old)).toBe('replanned');
    const fresh = (await pendingReminder(ev.id))!;
    expect(fresh.fireAt).toBe(new Date(moved.getTime() - 10 * 60_000).toISOString());
    await sleep(1000);
    expect(sim.sent.filter((s) => s.text.includes('Перенесённая встреча'))).toHaveLength(0);
    // The re-planned reminder, when due, is sent (called directly rather than waiting 2 h 50 min).
    expect(await fireReminder(env.ctx, fresh)).toBe('sent');
    const msg = await eventually(async () => sentTo('boris@example.com').find((s) => s.text.startsWith('⏰') && s.text.includes('Перенесённая встреча')), 10_000, 'reminder for the moved meeting');
    expect(msg.text).toMatch(new RegExp(`${hhmm(moved, 'Europe/Moscow')} ?–`));
    // The same due payload again (a retried job) sends nothing more.
    await fireReminder(env.ctx, fresh);
    await sleep(500);
    expect(sim.sent.filter((s) => s.text.includes('Перенесённая встреча'))).toHaveLength(1);
  });

  it('a cancelled meeting sends nothing', async () => {
    await env.ctx.db.updateTable('calendar').set({ default_reminders: JSON.stringify([{ minutesBefore: 15, action: 'DISPLAY' }]) as never }).where('id', '=', cal.boris).execute();
    const ev = await createEvent('anna', 'Doomed sync', '2031-07-01T10:00:00', '2031-07-01T11:00:00', { attendees: ['boris@example.com'] });
    await eventually(async () => invitationTo('boris@example.com', 'Doomed sync'), 15_000, 'invitation');
    const copy = (await copyOf(ids.boris, ev.uid))!;
    const p = await eventually(async () => pendingReminder(copy.id), 5000, 'attendee reminder planned');
    expect(p.fireAt).toBe(new Date(Date.UTC(2031, 6, 1, 7 - 0, 0) - 15 * 60_000).toISOString());
    expect((await env.app.inject({ method: 'DELETE', url: `/api/v1/events/${ev.id}`, headers: h.anna })).statusCode).toBeLessThan(300);
    await eventually(async () => (await copyOf(ids.boris, ev.uid))?.status === 'CANCELLED', 10_000, 'cancelled copy');
    const before = sentTo('boris@example.com').filter((s) => s.text.startsWith('⏰')).length;
    expect(await fireReminder(env.ctx, p)).toBe('dropped');
    expect(await pendingReminder(copy.id)).toBeUndefined();
    await sleep(800);
    expect(sentTo('boris@example.com').filter((s) => s.text.startsWith('⏰'))).toHaveLength(before);
    await env.ctx.db.updateTable('calendar').set({ default_reminders: JSON.stringify([]) as never }).where('id', '=', cal.boris).execute();
  });
});

describe('updates, cancellations and answers in VK Teams', () => {
  it('the attendee\'s answer reaches the organizer as a bot message in the organizer\'s language', async () => {
    // Boris (ru) organizes, Anna (en) answers: Boris hears in Russian; and the other way round.
    const ev = await createEvent('boris', 'Планёрка', '2031-06-03T10:00:00', '2031-06-03T11:00:00', { attendees: ['anna@example.com'] });
    const inv = await eventually(async () => invitationTo('anna@example.com', 'Планёрка'), 15_000, 'invitation to Anna');
    expect(inv.keyboard![0].map((b) => b.text)).toEqual(['Accept', 'Maybe', 'Decline']);
    const a = await press('anna@example.com', inv, 2);
    expect(a.text).toBe('Declined ✓');
    const reply = await eventually(async () => sentTo('boris@example.com').find((s) => s.text.includes('Планёрка') && s.text.startsWith('❌ Отклонено')), 15_000, 'answer to the organizer');
    expect(reply.text).toContain('Anna');
    expect(reply.text).toContain(`https://cal.example.com/?event=${ev.id}`);
    expect(reply.keyboard ?? []).toHaveLength(0);
  });

  it('a moved meeting reaches the attendee as old → new; a cancellation edits the invitation (no buttons) and its old buttons change nothing', async () => {
    const ev = await createEvent('anna', 'Design review', '2031-06-02T10:00:00', '2031-06-02T11:00:00', { attendees: ['boris@example.com'] });
    const inv = await eventually(async () => invitationTo('boris@example.com', 'Design review'), 15_000, 'invitation');
    const acc = await press('boris@example.com', inv, 0);
    expect(acc.text).toBe('Принято ✓');
    await eventually(async () => sentTo('boris@example.com', 'edit').find((s) => s.msgId === inv.msgId && s.text.includes('Принято')), 10_000, 'answered edit');

    // Moved 10:00 → 14:00 (Moscow).
    const patch = await env.app.inject({ method: 'PATCH', url: `/api/v1/events/${ev.id}`, headers: h.anna, payload: { event: { start: '2031-06-02T14:00:00', end: '2031-06-02T15:00:00' } } });
    expect(patch.statusCode, patch.body).toBe(200);
    const upd = await eventually(async () => sentTo('boris@example.com').find((s) => s.text.includes('Встреча изменена') && s.text.includes('Design review')), 15_000, 'update message');
    const line = upd.text.split('\n').find((l) => l.includes('→'))!;
    expect(line).toMatch(/^Время: .*10:00–11:00.* → <b>.*14:00–15:00.*<\/b>$/);
    // A moved meeting asks again (the answer was reset): buttons on the update.
    const copy = (await copyOf(ids.boris, ev.uid))!;
    expect(copy.my_partstat).toBe('NEEDS-ACTION');
    expect(upd.keyboard?.[0]).toHaveLength(3);

    // Cancelled: the message, and both earlier messages with buttons lose them.
    expect((await env.app.inject({ method: 'DELETE', url: `/api/v1/events/${ev.id}`, headers: h.anna })).statusCode).toBeLessThan(300);
    const cancel = await eventually(async () => sentTo('boris@example.com').find((s) => s.text.startsWith('❌') && s.text.includes('Отменено') && s.text.includes('Design review')), 15_000, 'cancellation message');
    expect(cancel.text).toContain('14:00–15:00');
    expect(cancel.keyboard ?? []).toHaveLength(0);
    const lastEdit = (msgId: string) => sentTo('boris@example.com', 'edit').filter((s) => s.msgId === msgId).at(-1);
    const edited = await eventually(async () => { const e = lastEdit(inv.msgId); return e?.text.includes('Отменено') ? e : undefined; }, 15_000, 'invitation edited as cancelled');
    expect(edited.keyboard).toEqual([]);
    expect(edited.text).toContain('Design review');
    const e2 = await eventually(async () => { const e = lastEdit(upd.msgId); return e?.text.includes('Отменено') ? e : undefined; }, 15_000, 'update edited as cancelled');
    expect(e2.keyboard).toEqual([]);
    // The edit reaches the Bot API before its outcome row commits: wait for the record.
    const row = await eventually(async () => {
      const r = await botDb(env.ctx.db).selectFrom('bot_message').selectAll().where('owner_id', '=', ids.boris).where('key', 'like', 'cancel:%').where('msg_id', '=', inv.msgId).executeTakeFirst();
      return r?.outcome === 'sent' ? r : undefined;
    }, 10_000, 'the cancellation edit recorded as sent');
    expect(row.outcome).toBe('sent');

    // The old buttons (the client may still show them): answered "cancelled", nothing changes.
    const copyBefore = (await copyOf(ids.boris, ev.uid))!;
    const editsBefore = sentTo('boris@example.com', 'edit').length;
    const repliesBefore = sentTo('anna@example.com').filter((s) => s.text.includes('Design review')).length;
    const mailsBefore = sink.messages.filter((m) => m.envelope.to.includes('anna@example.com')).length;
    const stale = await press('boris@example.com', inv, 2);
    expect(stale).toMatchObject({ text: 'Встреча отменена.', showAlert: true });
    await sleep(1200);
    const copyAfter = (await copyOf(ids.boris, ev.uid))!;
    expect(copyAfter.etag).toBe(copyBefore.etag);
    expect(copyAfter.my_partstat).toBe(copyBefore.my_partstat);
    expect(sentTo('boris@example.com', 'edit').length).toBe(editsBefore);
    expect(sentTo('anna@example.com').filter((s) => s.text.includes('Design review')).length).toBe(repliesBefore);
    expect(sink.messages.filter((m) => m.envelope.to.includes('anna@example.com')).length).toBe(mailsBefore);
    const cb = await botDb(env.ctx.db).selectFrom('bot_callback').select('outcome').where('owner_id', '=', ids.boris).orderBy('created_at', 'desc').executeTakeFirst();
    expect(cb?.outcome).toBe('cancelled');
  });

  it('the cancellation edit leaves an invitation alone while the event itself is not cancelled (e.g. one occurrence cancelled)', async () => {
    const ev = await createEvent('anna', 'Weekly 1:1', '2031-06-09T10:00:00', '2031-06-09T10:30:00', { attendees: ['boris@example.com'], rrule: 'FREQ=WEEKLY;COUNT=5' });
    const inv = await eventually(async () => invitationTo('boris@example.com', 'Weekly 1:1'), 15_000, 'invitation');
    // An edit job for a copy that is not cancelled does nothing.
    const { editAnsweredMessage } = await import('../../src/app/bot/outbox.js');
    const copy = (await copyOf(ids.boris, ev.uid))!;
    expect(await editAnsweredMessage(env.ctx, { recipientId: ids.boris, objectId: copy.id, chatId: 'boris@example.com', msgId: inv.msgId, key: 'cancel:test', mode: 'cancelled' })).toBe('skipped-not-cancelled');
    expect(sentTo('boris@example.com', 'edit').filter((s) => s.msgId === inv.msgId)).toHaveLength(0);
  });
});

describe('calendula user vkteams (CLI)', () => {
  it('maps, shows and clears the id; REST shows the change; a changed id drops the chat link', async () => {
    const { main } = await import('../../src/cli/main.js');
    const saved = process.env.DATABASE_URL;
    process.env.DATABASE_URL = env.url;
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => { out.push(a.join(' ')); });
    const rest = async () => (await env.app.inject({ method: 'GET', url: `/api/v1/users/${ids.carol}/vkteams`, headers: h.admin })).json();
    try {
      expect(await rest()).toMatchObject({ vkteamsId: 'carol@example.com', mapped: false, linked: false });
      await main(['user', 'vkteams', 'carol@example.com', 'Carol.K@corp.example']);
      expect(out.at(-1)).toBe('carol@example.com\tvkteams=carol.k@corp.example\tnot linked (the user has not sent /start to the bot)');
      expect(await rest()).toMatchObject({ vkteamsId: 'carol.k@corp.example', mapped: true, linked: false });
      const carol = await signInHeaders(env.app, 'carol@example.com');
      expect((await env.app.inject({ method: 'GET', url: '/api/v1/settings/vkteams', headers: carol })).json()).toMatchObject({ vkteamsId: 'carol.k@corp.example', mapped: true });

      // The bot now knows Carol by the mapped id: her /start links the chat.
      sim.emitNewMessage('carol.k@corp.example', '/start', { firstName: 'Carol' });
      await eventually(async () => sentTo('carol.k@corp.example').find((s) => s.text.includes('Hello')), 10_000, 'greeting on the mapped id');
      expect(await rest()).toMatchObject({ linked: true });
      await main(['user', 'vkteams', 'carol@example.com']);
      expect(out.at(-1)).toMatch(/^carol@example\.com\tvkteams=carol\.k@corp\.example\tlinked since \d{4}-/);

      await main(['user', 'vkteams', 'carol@example.com', '--clear']);
      expect(out.at(-1)).toBe('carol@example.com\tvkteams=carol@example.com (login e-mail)\tnot linked (the user has not sent /start to the bot)');
      expect(await rest()).toMatchObject({ vkteamsId: 'carol@example.com', mapped: false, linked: false });
      // Cleared: the old id no longer reaches Carol.
      sim.emitNewMessage('carol.k@corp.example', '/help');
      await eventually(async () => sentTo('carol.k@corp.example').find((s) => s.text.includes('no calendar account')), 10_000, 'old id unknown');

      // Errors: an id another user already has, and an unknown user: exit code 1, nothing changes.
      const exit = vi.spyOn(process, 'exit').mockImplementation(((code?: number) => { throw new Error(`exit ${code}`); }) as never);
      const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
      try {
        await expect(main(['user', 'vkteams', 'carol@example.com', 'boris@example.com'])).rejects.toThrow('exit 1');
        expect(String(err.mock.calls.at(-1)?.[0])).toMatch(/CONFLICT: .*boris@example\.com/);
        await expect(main(['user', 'vkteams', 'nobody@example.com', 'x@y'])).rejects.toThrow('exit 1');
        expect(String(err.mock.calls.at(-1)?.[0])).toContain('nobody@example.com');
      } finally {
        exit.mockRestore();
        err.mockRestore();
      }
      expect(await rest()).toMatchObject({ vkteamsId: 'carol@example.com', mapped: false });
    } finally {
      log.mockRestore();
      if (saved === undefined) delete process.env.DATABASE_URL; else process.env.DATABASE_URL = saved;
    }
  });
});
