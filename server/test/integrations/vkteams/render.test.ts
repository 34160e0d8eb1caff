import { describe, expect, it } from 'vitest';
import * as R from '../../../src/integrations/vkteams/render.js';
import { checkHtml } from '../../support/vkteams/simulator.js';

const en: R.Recipient = { lang: 'en', timeZone: 'Europe/Moscow' };
const ru: R.Recipient = { lang: 'ru', timeZone: 'Europe/Moscow' };
const at = (d: number, h: number, m = 0) => new Date(Date.UTC(2025, 0, d, h, m));
const ev: R.EventView = {
  title: 'Планёрка <b>& co</b>', start: at(20, 6), end: at(20, 7),
  location: 'Room "A" <script>alert(1)</script>', organizer: { name: 'Anna & Co', email: 'anna@corp.example' },
  participantsCount: 5, url: 'https://cal.example/e/1?a=1&b=2',
  recurrence: { freq: 'WEEKLY', byDay: ['WE', 'MO'], until: new Date(Date.UTC(2025, 2, 31, 6)) },
};
const plain: R.EventView = { title: 'Sync', start: at(20, 6), end: at(20, 7), organizer: { email: 'anna@corp.example' }, participantsCount: 2, url: 'https://cal.example/e/2' };
const tok: R.AnswerTokens = { A: 'ta', T: 'tt', D: 'td' };
const T_EN = 'Планёрка &lt;b&gt;&amp; co&lt;/b&gt;';
const LINK = '<a href="https://cal.example/e/1?a=1&amp;b=2">';
const kb = (labels: [string, string, string]) => [[
  { text: labels[0], callbackData: 'ta', style: 'primary' }, { text: labels[1], callbackData: 'tt', style: 'base' },
  { text: labels[2], callbackData: 'td', style: 'attention' }]];

describe('render (en)', () => {
  it('invitation with series, escaping and three buttons', () => {
    expect(R.renderInvitation(en, ev, tok)).toEqual({
      parseMode: 'HTML',
      text: [`📅 <b>Invitation: ${T_EN}</b>`, 'When: Mon, 20 January 2025, 09:00–10:00 (GMT+3)',
        'Repeats: every week on Mon and Wed, until Mon, 31 March 2025',
        'Where: Room &quot;A&quot; &lt;script&gt;alert(1)&lt;/script&gt;', 'Organizer: Anna &amp; Co', 'Participants: 5',
        `${LINK}Open in Calendula</a>`].join('\n'),
      inlineKeyboardMarkup: kb(['Accept', 'Maybe', 'Decline']),
    });
  });
  it('invitation without optional parts; time zone of the recipient', () => {
    expect(R.renderInvitation({ lang: 'en', timeZone: 'America/New_York' }, plain, tok).text).toBe([
      '📅 <b>Invitation: Sync</b>', 'When: Mon, 20 January 2025, 01:00–02:00 (GMT-5)', 'Organizer: anna@corp.example',
      'Participants: 2', '<a href="https://cal.example/e/2">Open in Calendula</a>'].join('\n'));
  });
  it('answered invitation keeps the buttons and marks the choice', () => {
    const m = R.renderAnsweredInvitation(en, plain, 'T', tok);
    expect(m.text.endsWith('\n\nYour answer: <b>Maybe ✓</b>\nYou can change your answer with the buttons below.')).toBe(true);
    expect(m.inlineKeyboardMarkup).toEqual(kb(['Accept', '✓ Maybe', 'Decline']));
  });
  it('update: what changed, old → new', () => {
    const m = R.renderUpdate(en, plain, [
      { field: 'time', old: { start: at(20, 6), end: at(20, 7) }, new: { start: at(21, 10, 30), end: at(21, 11) } },
      { field: 'location', old: 'Room 1', new: undefined }, { field: 'title', old: 'Old <x>', new: 'Sync' },
      { field: 'recurrence', old: undefined, new: { freq: 'DAILY', interval: 5, count: 3 } }], tok);
    expect(m.text).toBe(['✏️ <b>Event changed: Sync</b>',
      'Time: Mon, 20 January 2025, 09:00–10:00 (GMT+3) → <b>Tue, 21 January 2025, 13:30–14:00 (GMT+3)</b>',
      'Place: Room 1 → <b>(none)</b>', 'Title: Old &lt;x&gt; → <b>Sync</b>', 'Repeats: (none) → <b>every 5 days, 3 times</b>', '',
      'Organizer: anna@corp.example', 'Participants: 2', '<a href="https://cal.example/e/2">Open in Calendula</a>'].join('\n'));
    expect(m.inlineKeyboardMarkup).toHaveLength(1);
    expect(R.renderUpdate(en, plain, []).inlineKeyboardMarkup).toBeUndefined();
  });
  it('cancellation, attendee reply, reminder', () => {
    expect(R.renderCancellation(en, plain).text).toBe('❌ <b>Cancelled: Sync</b>\nWhen: Mon, 20 January 2025, 09:00–10:00 (GMT+3)\nOrganizer: anna@corp.example');
    expect(R.renderCancellation(en, ev, { occurrence: true }).text.split('\n')[0]).toBe(`❌ <b>Occurrence cancelled: ${T_EN}</b>`);
    expect(R.renderAttendeeReply(en, ev, { email: 'bob@corp.example' }, 'D', 'Sorry <i>busy</i>').text).toBe([
      '❌ Declined: <b>bob@corp.example</b>', `Event: ${LINK}${T_EN}</a>`,
      'When: Mon, 20 January 2025, 09:00–10:00 (GMT+3)', 'Comment: Sorry &lt;i&gt;busy&lt;/i&gt;'].join('\n'));
    expect(R.renderAttendeeReply(en, plain, { name: 'Bob B', email: 'bob@corp.example' }, 'A').text.split('\n')[0]).toBe('✅ Accepted: <b>Bob B</b>');
    expect(R.renderReminder(en, ev, at(20, 4, 45)).text).toBe([`⏰ <b>${T_EN}</b> — starts in 1 h 15 min`,
      'When: Mon, 20 January 2025, 09:00–10:00 (GMT+3)', 'Where: Room &quot;A&quot; &lt;script&gt;alert(1)&lt;/script&gt;',
      `${LINK}Open in Calendula</a>`].join('\n'));
    expect(R.renderReminder(en, plain, at(20, 5, 50)).text.split('\n')[0]).toBe('⏰ <b>Sync</b> — starts in 10 min');
    expect(R.renderReminder(en, plain, at(20, 6)).text.split('\n')[0]).toBe('⏰ <b>Sync</b> — starts now');
  });
  it('agenda, sorted, with answer marks, and empty', () => {
    const items: R.AgendaItem[] = [
      { title: 'Late', start: at(20, 14), end: at(20, 15), myAnswer: 'N' },
      { title: 'Holiday', start: at(20, 0), end: at(21, 0), allDay: true },
      { title: 'x<y', start: at(20, 6), end: at(20, 7), location: 'R&D', url: 'https://c/e/2', myAnswer: 'D' },
      { title: 'Maybe', start: at(20, 10), end: at(20, 11), myAnswer: 'T' }];
    expect(R.renderAgenda(en, 'today', at(20, 6), items).text).toBe(['📋 <b>Today, Mon, 20 January 2025</b> (GMT+3)',
      'all day  Holiday', '09:00–10:00  <s><a href="https://c/e/2">x&lt;y</a></s> · R&amp;D (declined)',
      '13:00–14:00  Maybe (maybe)', '17:00–18:00  Late (no answer yet)'].join('\n'));
    expect(R.renderAgenda(en, 'tomorrow', at(21, 6), []).text).toBe('📋 <b>Tomorrow, Tue, 21 January 2025</b> (GMT+3)\nNo events.');
  });
  it('start, help, unknown, callback answers', () => {
    expect(R.renderStart(en, { name: 'Bob <3' }).text).toBe(['👋 Hello, Bob &lt;3! I am the Calendula calendar bot.', '',
      'I will send you here: invitations with Accept / Maybe / Decline buttons, changes and cancellations of your meetings, answers of the people you invited, and reminders.',
      '', 'Commands:', '/today — your agenda for today', '/tomorrow — your agenda for tomorrow', '/help — this help'].join('\n'));
    expect(R.renderHelp(en).text.split('\n').slice(0, 2)).toEqual(['ℹ️ <b>Calendula bot</b>',
      'Press a button under an invitation to answer it; your answer goes to the organizer, as if you had answered in the calendar.']);
    expect(R.renderUnknown(en).text).toBe('Sorry, I did not understand that. Try /today, /tomorrow or /help.');
    expect(R.renderCallbackAnswer(en, 'A')).toEqual({ text: 'Accepted ✓', showAlert: false });
    expect(R.renderCallbackAnswer(en, 'T')).toEqual({ text: 'Maybe ✓', showAlert: false });
    expect(R.renderCallbackAnswer(en, 'D')).toEqual({ text: 'Declined ✓', showAlert: false });
    expect(R.renderCallbackAnswer(en, 'not-yours')).toEqual({ text: 'This button belongs to someone else.', showAlert: true });
    expect(R.renderCallbackAnswer(en, 'stale').text).toBe('This invitation has changed since this message. Please use the latest message.');
  });
  it('when-lines: all-day (floating) and multi-day', () => {
    expect(R.formatWhen({ start: at(20, 0), end: at(23, 0), allDay: true }, { lang: 'en', timeZone: 'America/Los_Angeles' }))
      .toBe('Mon, 20 January 2025 – Wed, 22 January 2025 (all day)');
    expect(R.formatWhen({ start: at(20, 0), end: at(21, 0), allDay: true }, en)).toBe('Mon, 20 January 2025 (all day)');
    expect(R.formatWhen({ start: at(20, 20), end: at(20, 22) }, en)).toBe('Mon, 20 January 2025, 23:00 – Tue, 21 January 2025, 01:00 (GMT+3)');
    expect(R.formatWhen({ start: at(20, 6), end: at(20, 7) }, { lang: 'en', timeZone: 'Not/AZone' })).toBe('Mon, 20 January 2025, 06:00–07:00 (UTC)');
  });
});

describe('render (ru)', () => {
  it('invitation', () => {
    expect(R.renderInvitation(ru, ev, tok)).toEqual({
      parseMode: 'HTML',
      text: [`📅 <b>Приглашение: ${T_EN}</b>`, 'Когда: пн, 20 января 2025, 09:00–10:00 (GMT+3)',
        'Повторяется: каждую неделю (пн и ср), до пн, 31 марта 2025',
        'Где: Room &quot;A&quot; &lt;script&gt;alert(1)&lt;/script&gt;', 'Организатор: Anna &amp; Co', 'Участников: 5',
        `${LINK}Открыть в Calendula</a>`].join('\n'),
      inlineKeyboardMarkup: kb(['Принять', 'Под вопросом', 'Отклонить']),
    });
  });
  it('answered invitation, update, cancellation', () => {
    const a = R.renderAnsweredInvitation(ru, plain, 'A', tok);
    expect(a.text.endsWith('\n\nВаш ответ: <b>Принято ✓</b>\nОтвет можно изменить кнопками ниже.')).toBe(true);
    expect(a.inlineKeyboardMarkup).toEqual(kb(['✓ Принять', 'Под вопросом', 'Отклонить']));
    expect(R.renderUpdate(ru, plain, [{ field: 'location', old: undefined, new: 'Зал <1>' }]).text).toBe([
      '✏️ <b>Встреча изменена: Sync</b>', 'Место: (нет) → <b>Зал &lt;1&gt;</b>', '',
      'Когда: пн, 20 января 2025, 09:00–10:00 (GMT+3)', 'Организатор: anna@corp.example', 'Участников: 2',
      '<a href="https://cal.example/e/2">Открыть в Calendula</a>'].join('\n'));
    expect(R.renderCancellation(ru, ev, { occurrence: true }).text).toBe(
      `❌ <b>Отменено повторение: ${T_EN}</b>\nКогда: пн, 20 января 2025, 09:00–10:00 (GMT+3)\nОрганизатор: Anna &amp; Co`);
  });
  it('reply, reminder, agenda', () => {
    expect(R.renderAttendeeReply(ru, plain, { name: 'Борис', email: 'b@x' }, 'T', 'Опоздаю').text).toBe([
      '❔ Под вопросом: <b>Борис</b>', 'Встреча: <a href="https://cal.example/e/2">Sync</a>',
      'Когда: пн, 20 января 2025, 09:00–10:00 (GMT+3)', 'Комментарий: Опоздаю'].join('\n'));
    expect(R.renderReminder(ru, plain, at(20, 5)).text).toBe(['⏰ <b>Sync</b> — начнётся через 1 ч',
      'Когда: пн, 20 января 2025, 09:00–10:00 (GMT+3)', '<a href="https://cal.example/e/2">Открыть в Calendula</a>'].join('\n'));
    expect(R.renderAgenda(ru, 'today', at(20, 6), [{ title: '', start: at(20, 6), end: at(20, 7), myAnswer: 'N' }]).text)
      .toBe('📋 <b>Сегодня, пн, 20 января 2025</b> (GMT+3)\n09:00–10:00  (без названия) (нет ответа)');
    expect(R.renderAgenda(ru, 'tomorrow', at(21, 6), []).text).toBe('📋 <b>Завтра, вт, 21 января 2025</b> (GMT+3)\nВстреч нет.');
  });
  it('start, help, unknown, callback answers', () => {
    expect(R.renderStart(ru).text).toBe(['👋 Здравствуйте! Я бот календаря Calendula.', '',
      'Сюда я буду присылать приглашения с кнопками «Принять / Под вопросом / Отклонить», изменения и отмены ваших встреч, ответы приглашённых вами участников и напоминания.',
      '', 'Команды:', '/today — встречи на сегодня', '/tomorrow — встречи на завтра', '/help — эта справка'].join('\n'));
    expect(R.renderHelp(ru).text.split('\n')[0]).toBe('ℹ️ <b>Бот Calendula</b>');
    expect(R.renderUnknown(ru).text).toBe('Не удалось разобрать сообщение. Попробуйте /today, /tomorrow или /help.');
    expect(R.renderCallbackAnswer(ru, 'A')).toEqual({ text: 'Принято ✓', showAlert: false });
    expect(R.renderCallbackAnswer(ru, 'T')).toEqual({ text: 'Под вопросом ✓', showAlert: false });
    expect(R.renderCallbackAnswer(ru, 'D')).toEqual({ text: 'Отклонено ✓', showAlert: false });
    expect(R.renderCallbackAnswer(ru, 'cancelled')).toEqual({ text: 'Встреча отменена.', showAlert: true });
  });
  it('recurrence phrases with Russian plurals', () => {
    const f = (x: R.RecurrenceView) => R.formatRecurrence(x, ru);
    expect(f({ freq: 'DAILY', interval: 5, count: 3 })).toBe('каждые 5 дней, 3 раза');
    expect(f({ freq: 'WEEKLY', interval: 2 })).toBe('каждые 2 недели');
    expect(f({ freq: 'WEEKLY', interval: 21 })).toBe('каждую 21 неделю');
    expect(f({ freq: 'MONTHLY', interval: 11, count: 11 })).toBe('каждые 11 месяцев, 11 раз');
    expect(f({ freq: 'YEARLY', interval: 1, count: 1 })).toBe('каждый год, 1 раз');
    expect(R.formatRecurrence({ freq: 'YEARLY', interval: 2, count: 1 }, en)).toBe('every 2 years, once');
  });
});

describe('escaping', () => {
  const nasty = '<b>bold</b> & <script>alert("x")</script> &amp; </a>';
  const evil: R.EventView = { ...plain, title: nasty, location: nasty, organizer: { name: nasty, email: 'e@x' }, url: 'https://x/"><script>' };
  const all = (r: R.Recipient): R.RenderedMessage[] => [
    R.renderInvitation(r, evil, tok), R.renderAnsweredInvitation(r, evil, 'A', tok), R.renderCancellation(r, evil),
    R.renderUpdate(r, evil, [{ field: 'title', old: nasty, new: nasty }, { field: 'location', old: nasty, new: '' }]),
    R.renderAttendeeReply(r, evil, { name: nasty, email: 'a@b' }, 'A', nasty), R.renderReminder(r, evil, at(20, 5)),
    R.renderAgenda(r, 'today', at(20, 6), [{ title: nasty, start: at(20, 6), end: at(20, 7), location: nasty, url: evil.url }]),
    R.renderStart(r, { name: nasty })];
  it('every message is well-formed HTML with only allowed tags, and user text is inert', () => {
    for (const r of [en, ru]) {
      for (const m of all(r)) {
        expect(checkHtml(m.text)).toBeNull();
        expect(m.text).not.toContain('<script>');
        expect(m.text).not.toContain('<b>bold</b>');
        expect(m.text).toContain('&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;');
      }
    }
  });
  it('escapeHtml and non-http links', () => {
    expect(R.escapeHtml('<a href="x">&amp;</a>')).toBe('&lt;a href=&quot;x&quot;&gt;&amp;amp;&lt;/a&gt;');
    expect(R.renderInvitation(en, { ...plain, url: 'javascript:alert(1)' }, tok).text).not.toContain('href');
  });
});
