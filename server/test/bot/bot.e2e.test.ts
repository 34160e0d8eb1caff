// End to end: REST → scheduling → notify job → messenger channel → Bot API simulator; button
// press → poller → respond command → organizer's copy + e-mail (real SMTP sink) + bot message.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, makeUser, signInHeaders, startTestWorker, eventually, type TestEnv } from '../support/harness.js';
import { BotApiSimulator, type SentRecord } from '../support/vkteams/simulator.js';
import { startSmtpSink, type SmtpSink } from '../support/mail/smtp-sink.js';
import { start as startBot, type RunningBot } from '../../src/roles/bot.js';
import { botDb } from '../../src/app/bot/store.js';
import { handleCallback } from '../../src/app/bot/inbound.js';
import { messengerFor } from '../../src/app/bot/messenger.js';
import type { CallbackQueryEvent } from '../../src/integrations/vkteams/index.js';

let env: TestEnv;
let sim: BotApiSimulator;
let sink: SmtpSink;
let worker: { stop(): Promise<void> };
let bot: RunningBot;
let anna: Record<string, string>;
let annaCal: string;
const ids: Record<string, string> = {};

const sentTo = (chat: string, kind: 'send' | 'edit' = 'send') => sim.sent.filter((s) => s.chatId === chat && s.kind === kind);
const invitationTo = (chat: string, title: string) => sentTo(chat).find((s) => s.text.includes(title) && s.keyboard?.[0]?.length === 3);

async function createMeeting(summary: string, attendees: string[], start = '2031-05-05T10:00:00') {
  const res = await env.app.inject({
    method: 'POST', url: '/api/v1/events', headers: anna,
    payload: { calendarId: annaCal, event: { summary, start, end: start.replace('T10', 'T11'), timezone: 'Europe/Moscow', attendees: attendees.map((email) => ({ email })) } },
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { id: string; uid: string };
}

async function organizerSees(eventId: string, email: string) {
  const r = await env.app.inject({ method: 'GET', url: `/api/v1/events/${eventId}`, headers: anna });
  return r.json().event.attendees.find((a: { email: string }) => a.email === email)?.partstat as string;
}

async function copyOf(userId: string, uid: string) {
  return env.ctx.db.selectFrom('calendar_object').selectAll().where('owner_id', '=', userId).where('uid', '=', uid).where('deleted_at', 'is', null).executeTakeFirst();
}

async function press(chat: string, msg: SentRecord, button: number, from = chat) {
  const { queryId } = sim.emitCallbackQuery(chat, msg.msgId, msg.keyboard![0][button].callbackData!, from);
  return eventually(async () => sim.answeredQueries.find((q) => q.queryId === queryId), 10_000, `answer to ${queryId}`);
}

beforeAll(async () => {
  sim = await BotApiSimulator.start();
  sink = await startSmtpSink();
  env = await createTestEnv({
    mailDomains: ['example.com'], dataDir: `/tmp/calendula-test-bot-${process.pid}`, smtpUrl: sink.url,
    vkteamsApiUrl: sim.baseUrl, vkteamsBotToken: sim.token, publicUrl: 'https://cal.example.com',
  });
  for (const [n, lang] of [['anna', 'en'], ['boris', 'ru'], ['carol', 'en'], ['dave', 'en']] as const) {
    const u = await makeUser(env.ctx, `${n}@example.com`, { name: n[0].toUpperCase() + n.slice(1) });
    await env.ctx.db.updateTable('principal').set({ language: lang, timezone: 'Europe/Moscow' }).where('id', '=', u.id).execute();
    ids[n] = u.id;
  }
  worker = await startTestWorker(env);
  bot = await startBot(env.ctx, { lockRetryMs: 300, pollTime: 1 });
  anna = await signInHeaders(env.app, 'anna@example.com');
  annaCal = (await env.app.inject({ method: 'GET', url: '/api/v1/calendars', headers: anna })).json().items[0].id;
});

afterAll(async () => {
  await bot?.stop();
  await worker?.stop();
  await env?.close();
  await sim?.close();
  await sink?.close();
});

describe('linking', () => {
  it('/start links the chat and greets in the user\'s language; the link shows in settings', async () => {
    const boris = await signInHeaders(env.app, 'boris@example.com');
    expect((await env.app.inject({ method: 'GET', url: '/api/v1/settings/vkteams', headers: boris })).json()).toMatchObject({ botEnabled: true, vkteamsId: 'boris@example.com', linked: false });
    sim.emitNewMessage('boris@example.com', '/start', { firstName: 'Борис' });
    sim.emitNewMessage('anna@example.com', '/start', { firstName: 'Anna' });
    const hello = await eventually(async () => sentTo('boris@example.com').find((s) => s.text.includes('Здравствуйте')), 10_000, 'greeting');
    expect(hello.text).toContain('Борис');
    await eventually(async () => sentTo('anna@example.com').find((s) => s.text.includes('Hello')), 10_000, 'greeting anna');
    const st = (await env.app.inject({ method: 'GET', url: '/api/v1/settings/vkteams', headers: boris })).json();
    expect(st).toMatchObject({ linked: true, mapped: false });
  });

  it('an admin maps a different VK Teams id; messages from unknown ids get a clear answer', async () => {
    const admin = await makeUser(env.ctx, 'admin@example.com', { admin: true });
    const h = await signInHeaders(env.app, admin.email);
    const r = await env.app.inject({ method: 'PUT', url: `/api/v1/users/${ids.dave}/vkteams`, headers: h, payload: { vkteamsId: 'D.Smith@corp.example' } });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({ vkteamsId: 'd.smith@corp.example', mapped: true, linked: false });
    const dave = await signInHeaders(env.app, 'dave@example.com');
    expect((await env.app.inject({ method: 'PUT', url: `/api/v1/users/${ids.dave}/vkteams`, headers: dave, payload: { vkteamsId: 'x' } })).statusCode).toBe(403);
    // dave's login no longer maps to him; the mapped id does.
    sim.emitNewMessage('dave@example.com', '/help');
    await eventually(async () => sentTo('dave@example.com').find((s) => s.text.includes('no calendar account')), 10_000, 'unknown-user answer');
    sim.emitNewMessage('d.smith@corp.example', '/help');
    await eventually(async () => sentTo('d.smith@corp.example').find((s) => s.text.includes('/today')), 10_000, 'help for the mapped id');
    expect((await env.app.inject({ method: 'GET', url: '/api/v1/settings/vkteams', headers: dave })).json().linked).toBe(true);
  });
});

describe('invitation → press → organizer', () => {
  it('sends the invitation with three buttons; Accept answers through respond; the organizer hears by e-mail and bot; the message is edited', async () => {
    const ev = await createMeeting('Quarterly review', ['boris@example.com', 'carol@example.com']);
    const inv = await eventually(async () => invitationTo('boris@example.com', 'Quarterly review'), 15_000, 'invitation to Boris');
    expect(inv.parseMode).toBe('HTML');
    expect(inv.keyboard![0].map((b) => b.text)).toEqual(['Принять', 'Под вопросом', 'Отклонить']);
    expect(inv.text).toContain('https://cal.example.com/?event=');
    // Carol never started the bot: skipped with a logged outcome, and her e-mail still went out.
    await eventually(async () => (await botDb(env.ctx.db).selectFrom('bot_message').selectAll().where('owner_id', '=', ids.carol).execute()).find((r) => r.outcome === 'skipped-unlinked'), 15_000, 'carol skipped');
    await sink.waitFor((m) => m.some((x) => x.envelope.to.includes('carol@example.com')), 15_000);
    // The msgId is stored so it can be edited (a string beyond 2^53).
    // The log row is written after the messenger answered, so it may land a moment after the message.
    const logged = await eventually(() => botDb(env.ctx.db).selectFrom('bot_message').selectAll().where('owner_id', '=', ids.boris).where('msg_id', '=', inv.msgId).executeTakeFirst()
      .then((r) => (r && r.outcome !== 'sending' ? r : undefined)), 10_000, 'bot message logged');
    expect(logged.outcome).toBe('sent');
    expect(BigInt(logged.msg_id!) > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);

    const mailsBefore = sink.messages.filter((m) => m.envelope.to.includes('anna@example.com')).length;
    const ans = await press('boris@example.com', inv, 0);
    expect(ans.text).toBe('Принято ✓');
    expect(ans.showAlert).toBe(false);
    await eventually(async () => (await organizerSees(ev.id, 'boris@example.com')) === 'ACCEPTED', 10_000, 'ACCEPTED in the organizer copy');
    await sink.waitFor((m) => m.filter((x) => x.envelope.to.includes('anna@example.com')).length > mailsBefore, 15_000);
    await eventually(async () => sentTo('anna@example.com').find((s) => s.text.includes('Quarterly review') && s.text.includes('Accepted') && s.text.includes('Boris')), 15_000, 'bot reply to Anna');
    const edit = await eventually(async () => sentTo('boris@example.com', 'edit').find((s) => s.msgId === inv.msgId), 10_000, 'edited invitation');
    expect(edit.text).toContain('Принято ✓');
    expect(edit.keyboard![0].map((b) => b.text)).toEqual(['✓ Принять', 'Под вопросом', 'Отклонить']);

    // Change the answer with the kept buttons.
    const dec = await press('boris@example.com', inv, 2);
    expect(dec.text).toBe('Отклонено ✓');
    await eventually(async () => (await organizerSees(ev.id, 'boris@example.com')) === 'DECLINED', 10_000, 'DECLINED in the organizer copy');
  });

  it('duplicate presses are idempotent: the same answer twice changes nothing, the same press replayed is ignored', async () => {
    const ev = await createMeeting('Standup', ['boris@example.com'], '2031-05-06T10:00:00');
    const inv = await eventually(async () => invitationTo('boris@example.com', 'Standup'), 15_000, 'invitation');
    await press('boris@example.com', inv, 1);
    await eventually(async () => (await organizerSees(ev.id, 'boris@example.com')) === 'TENTATIVE', 10_000, 'TENTATIVE');
    const copy1 = (await copyOf(ids.boris, ev.uid))!;
    const again = await press('boris@example.com', inv, 1);
    expect(again.text).toBe('Под вопросом ✓');
    await new Promise((r) => setTimeout(r, 800));
    expect((await copyOf(ids.boris, ev.uid))!.etag).toBe(copy1.etag);
    // The very same callback event handled twice (as after a crash before lastEventId was saved).
    const { event } = sim.emitCallbackQuery('boris@example.com', inv.msgId, inv.keyboard![0][0].callbackData!);
    await eventually(async () => (await organizerSees(ev.id, 'boris@example.com')) === 'ACCEPTED', 10_000, 'ACCEPTED');
    const copy2 = (await copyOf(ids.boris, ev.uid))!;
    const raw = { eventId: event.eventId, type: 'callbackQuery', payload: { ...(event.payload as object), chat: { chatId: 'boris@example.com', type: 'private' } } } as unknown as CallbackQueryEvent;
    expect(await handleCallback(env.ctx, messengerFor(env.ctx)!, raw)).toBe('duplicate');
    expect((await copyOf(ids.boris, ev.uid))!.etag).toBe(copy2.etag);
    const replies = () => sentTo('anna@example.com').filter((s) => s.text.includes('Standup')).length;
    await eventually(async () => replies() >= 2, 10_000, 'two replies');
    await new Promise((r) => setTimeout(r, 800));
    expect(replies()).toBe(2); // maybe, then accepted — not one per press
  });
});

describe('tokens that must not work', () => {
  it('forged, someone else\'s, and replayed on another event: refused, nothing changes', async () => {
    sim.emitNewMessage('carol@example.com', '/start');
    await eventually(async () => sentTo('carol@example.com').find((s) => s.text.includes('Hello')), 10_000, 'carol linked');
    const e1 = await createMeeting('Budget', ['boris@example.com', 'carol@example.com'], '2031-05-07T10:00:00');
    const e2 = await createMeeting('Hiring', ['boris@example.com'], '2031-05-08T10:00:00');
    const inv1 = await eventually(async () => invitationTo('boris@example.com', 'Budget'), 15_000, 'inv1');
    const inv2 = await eventually(async () => invitationTo('boris@example.com', 'Hiring'), 15_000, 'inv2');
    const tok = inv1.keyboard![0][0].callbackData!;
    // Forged: one character changed.
    const forged = tok.slice(0, 20) + (tok[20] === 'A' ? 'B' : 'A') + tok.slice(21);
    let q = sim.emitCallbackQuery('boris@example.com', inv1.msgId, forged);
    let a = await eventually(async () => sim.answeredQueries.find((x) => x.queryId === q.queryId), 10_000, 'forged answer');
    expect(a).toMatchObject({ text: 'Кнопка недействительна.', showAlert: true });
    // Boris's token pressed by Carol.
    q = sim.emitCallbackQuery('carol@example.com', inv1.msgId, tok, 'carol@example.com');
    a = await eventually(async () => sim.answeredQueries.find((x) => x.queryId === q.queryId), 10_000, 'not-yours answer');
    expect(a).toMatchObject({ text: 'This button belongs to someone else.', showAlert: true });
    // Event 1's token replayed under event 2's message.
    q = sim.emitCallbackQuery('boris@example.com', inv2.msgId, tok);
    a = await eventually(async () => sim.answeredQueries.find((x) => x.queryId === q.queryId), 10_000, 'replay answer');
    expect(a.showAlert).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect(await organizerSees(e1.id, 'boris@example.com')).toBe('NEEDS-ACTION');
    expect(await organizerSees(e1.id, 'carol@example.com')).toBe('NEEDS-ACTION');
    expect(await organizerSees(e2.id, 'boris@example.com')).toBe('NEEDS-ACTION');
  });

  it('stale presses: the event moved, or was cancelled — answered clearly, nothing changes', async () => {
    const ev = await createMeeting('Offsite', ['boris@example.com'], '2031-05-09T10:00:00');
    const inv = await eventually(async () => invitationTo('boris@example.com', 'Offsite'), 15_000, 'invitation');
    const before = (await copyOf(ids.boris, ev.uid))!;
    const patch = await env.app.inject({ method: 'PATCH', url: `/api/v1/events/${ev.id}`, headers: anna, payload: { event: { start: '2031-05-09T14:00:00', end: '2031-05-09T15:00:00' } } });
    expect(patch.statusCode, patch.body).toBe(200);
    await eventually(async () => ((await copyOf(ids.boris, ev.uid))!.sequence > before.sequence), 10_000, 'moved copy');
    const a = await press('boris@example.com', inv, 0);
    expect(a).toMatchObject({ text: 'Приглашение изменилось после этого сообщения. Ответьте в последнем сообщении.', showAlert: true });
    await new Promise((r) => setTimeout(r, 300));
    expect(await organizerSees(ev.id, 'boris@example.com')).toBe('NEEDS-ACTION');

    const ev2 = await createMeeting('Party', ['boris@example.com'], '2031-05-10T10:00:00');
    const inv2 = await eventually(async () => invitationTo('boris@example.com', 'Party'), 15_000, 'invitation 2');
    expect((await env.app.inject({ method: 'DELETE', url: `/api/v1/events/${ev2.id}`, headers: anna })).statusCode).toBeLessThan(300);
    await eventually(async () => (await env.ctx.db.selectFrom('calendar_object').select('status').where('owner_id', '=', ids.boris).where('uid', '=', ev2.uid).executeTakeFirst())?.status === 'CANCELLED', 10_000, 'cancelled copy');
    const c = await press('boris@example.com', inv2, 0);
    expect(c).toMatchObject({ text: 'Встреча отменена.', showAlert: true });
    await eventually(async () => sentTo('boris@example.com').find((s) => s.text.includes('Отменено') && s.text.includes('Party')), 15_000, 'cancellation message');
  });

  it('/today and /tomorrow list the user\'s own agenda', async () => {
    const now = new Date(Date.now() + 86_400_000);
    const day = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Moscow', year: 'numeric', month: '2-digit', day: '2-digit' }).format(now);
    await createMeeting('Tomorrow sync', ['boris@example.com'], `${day}T10:00:00`);
    await eventually(async () => invitationTo('boris@example.com', 'Tomorrow sync'), 15_000, 'invitation');
    sim.emitNewMessage('boris@example.com', '/tomorrow');
    const ag = await eventually(async () => sentTo('boris@example.com').find((s) => s.text.startsWith('📋') && s.text.includes('Tomorrow sync')), 10_000, 'agenda');
    expect(ag.text).toContain('10:00–11:00');
    expect(ag.text).toContain('нет ответа');
    sim.emitNewMessage('anna@example.com', '/today');
    await eventually(async () => sentTo('anna@example.com').find((s) => s.text.startsWith('📋')), 10_000, 'today');
    sim.emitNewMessage('anna@example.com', 'hello?');
    await eventually(async () => sentTo('anna@example.com').find((s) => s.text.includes('did not understand')), 10_000, 'unknown text');
  });
});
