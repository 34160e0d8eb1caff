/**
 * The web UI end to end (issue 7 "Tests"): a real server with the built web/dist, a job worker,
 * and Debian's chromium driven by playwright-core. Skipped, with a message, only when chromium is absent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { makeUser, signInHeaders } from '../support/harness.js';
import { hasChromium, CHROMIUM, launch, signedIn, startWebEnv, type WebEnv } from './support.js';
import { receiveMail } from '../../src/app/intake/receive.js';

if (!hasChromium) console.warn(`[web e2e] SKIPPED: ${CHROMIUM} not found (install with: apt-get install -y chromium)`);

const today = new Date().toISOString().slice(0, 10);
const addDays = (d: string, n: number) => new Date(Date.parse(d + 'T00:00:00Z') + n * 86400000).toISOString().slice(0, 10);
// Monday of this week (the week view starts on Monday for en-GB and ru).
const monday = addDays(today, -((new Date(today + 'T00:00:00Z').getUTCDay() + 6) % 7));

describe.skipIf(!hasChromium)('web UI end to end', { timeout: 90_000 }, () => {
  let env: WebEnv;
  let browser: Browser;
  let anna: Record<string, string>;
  let annaCalendar: string;
  const api = async (headers: Record<string, string>, method: string, url: string, payload?: unknown, extra: Record<string, string> = {}) => {
    const r = await env.app.inject({ method: method as never, url: `/api/v1${url}`, headers: { ...headers, ...extra }, ...(payload !== undefined ? { payload: payload as never } : {}) });
    return { status: r.statusCode, body: r.body ? (() => { try { return r.json(); } catch { return r.body; } })() : undefined };
  };
  const eventsBetween = async (h: Record<string, string>, from: string, to: string) =>
    (await api(h, 'GET', `/events?from=${from}T00:00:00Z&to=${to}T00:00:00Z`)).body.items as any[];
  const until = async <T>(f: () => Promise<T | undefined | null | false>, ms = 15000): Promise<T> => {
    const t0 = Date.now();
    for (;;) {
      const v = await f();
      if (v) return v;
      if (Date.now() - t0 > ms) throw new Error('timed out waiting');
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const createViaApi = async (summary: string, day: string, start: string, end: string, extra: Record<string, unknown> = {}) => {
    const r = await api(anna, 'POST', '/events', { calendarId: annaCalendar, event: { summary, start: `${day}T${start}:00`, end: `${day}T${end}:00`, timezone: 'UTC', ...extra } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body as { id: string; etag: string };
  };
  const openEvent = async (page: Page, title: string) => {
    await page.locator('.fc-event', { hasText: title }).first().click();
    await page.waitForSelector('dialog.event-view');
  };

  beforeAll(async () => {
    env = await startWebEnv();
    await makeUser(env.ctx, 'anna@example.com', { name: 'Anna Petrova' });
    await makeUser(env.ctx, 'boris@example.com', { name: 'Boris Ivanov' });
    await makeUser(env.ctx, 'clara@example.com', { name: 'Clara Smith' });
    await makeUser(env.ctx, 'neva@example.com', { name: 'Room Neva', kind: 'room' });
    anna = await signInHeaders(env.app, 'anna@example.com');
    annaCalendar = (await api(anna, 'GET', '/calendars')).body.items[0].id;
    browser = await launch();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await env?.close();
  });

  it('signs in and shows the week view with the calendar list', async () => {
    const { context, page } = await signedIn(browser, env.base, 'anna@example.com');
    await expect(page.locator('.fc-timeGridWeek-view').count()).resolves.toBe(1);
    // The calendar list arrives with its own request: wait for it before counting.
    const shown = page.getByRole('checkbox', { name: /Show Calendar/ });
    await shown.first().waitFor({ timeout: 15_000 });
    await expect(shown.count()).resolves.toBe(1);
    await context.close();
  });

  it('creates an event with two participants, a room and an attachment; the second participant accepts; the organizer sees it', async () => {
    const { context, page } = await signedIn(browser, env.base, 'anna@example.com');
    await page.getByRole('button', { name: 'New event' }).click();
    const dlg = page.locator('dialog.editor');
    await dlg.getByLabel('Title').fill('Design review');
    await dlg.locator('input[name=startDay]').fill(today);
    await dlg.locator('input[name=startTime]').fill('10:00');
    await dlg.locator('input[name=endDay]').fill(today);
    await dlg.locator('input[name=endTime]').fill('11:00');
    const people = dlg.getByLabel('Add people, groups or rooms');
    await people.fill('Boris');
    await dlg.getByRole('option', { name: /Boris Ivanov/ }).waitFor();
    await people.press('Enter');
    await people.fill('clara@example.com');
    await people.press('Enter');
    await people.fill('Neva');
    await dlg.getByRole('option', { name: /Room Neva/ }).waitFor();
    await people.press('Enter');
    await expect(dlg.locator('.people li').count()).resolves.toBe(3);
    writeFileSync('/tmp/calendula-e2e-agenda.txt', 'Agenda: 1. UI 2. API\n');
    await dlg.locator('input[name=attachment]').setInputFiles('/tmp/calendula-e2e-agenda.txt');
    await dlg.getByRole('link', { name: /calendula-e2e-agenda\.txt/ }).waitFor();
    await dlg.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved').first().waitFor();
    await page.locator('.fc-event', { hasText: 'Design review' }).first().waitFor();

    const [ev] = (await eventsBetween(anna, today, addDays(today, 1))).filter((e) => e.summary === 'Design review');
    const detail = (await api(anna, 'GET', `/events/${ev.id}`)).body;
    expect(detail.event.attendees.map((a: any) => a.email).sort()).toEqual(expect.arrayContaining(['boris@example.com', 'clara@example.com', 'neva@example.com']));
    expect(detail.event.attachments).toHaveLength(1);

    // Boris (second browser context) sees it with Accept/Decline and accepts.
    const boris = await signedIn(browser, env.base, 'boris@example.com');
    const bh = await signInHeaders(env.app, 'boris@example.com');
    await until(async () => (await eventsBetween(bh, today, addDays(today, 1))).some((e) => e.summary === 'Design review'));
    await boris.page.reload();
    await boris.page.waitForSelector('.fc-view-harness');
    await openEvent(boris.page, 'Design review');
    const view = boris.page.locator('dialog.event-view');
    await view.getByRole('button', { name: /Decline/ }).waitFor();
    await view.getByLabel('Comment (optional)').fill('See you there');
    await view.getByRole('button', { name: /Accept/ }).click();
    await view.locator('.rsvp .ps-accepted').waitFor();

    // The organizer sees the answer.
    await until(async () => (await api(anna, 'GET', `/events/${ev.id}`)).body.event.attendees.find((a: any) => a.email === 'boris@example.com')?.partstat === 'ACCEPTED');
    await openEvent(page, 'Design review');
    await page.locator('dialog.event-view li[data-email="boris@example.com"] .ps-accepted').waitFor();
    await context.close();
    await boris.context.close();
  });

  it('edit lock: a second person sees "Anna is editing"; a conflicting save shows what changed and lets the organizer overwrite', async () => {
    const ev = await createViaApi('Budget sync', today, '13:00', '14:00');
    // Clara can edit Anna's calendar.
    expect((await api(anna, 'PUT', `/calendars/${annaCalendar}/shares`, { email: 'clara@example.com', access: 'read-write' })).status).toBe(200);
    const a = await signedIn(browser, env.base, 'anna@example.com');
    await openEvent(a.page, 'Budget sync');
    await a.page.locator('dialog.event-view').getByRole('button', { name: 'Edit' }).click();
    await a.page.locator('dialog.editor').waitFor();
    await until(async () => (await api(anna, 'GET', `/events/${ev.id}`)).body.lease);

    const c = await signedIn(browser, env.base, 'clara@example.com');
    await openEvent(c.page, 'Budget sync');
    await c.page.locator('dialog.event-view').getByRole('button', { name: 'Edit' }).click();
    await c.page.locator('.lease-banner', { hasText: 'Anna Petrova is editing this event' }).waitFor();
    await expect(c.page.locator('dialog.editor').getByRole('button', { name: 'Save' }).isDisabled()).resolves.toBe(true);
    await c.context.close();

    // Meanwhile the event changes (another session of Anna's, e.g. a CalDAV client).
    const cur = (await api(anna, 'GET', `/events/${ev.id}`)).body;
    const r = await api(anna, 'PATCH', `/events/${ev.id}`, { event: { summary: 'Budget sync (moved room)' } }, { 'if-match': cur.etag });
    expect(r.status, JSON.stringify(r.body)).toBe(200);

    const dlg = a.page.locator('dialog.editor');
    await dlg.getByLabel('Title').fill('Budget sync v2');
    await dlg.getByRole('button', { name: 'Save' }).click();
    const conflict = a.page.locator('dialog.conflict');
    await conflict.getByText('The event was changed meanwhile').waitFor();
    await conflict.getByText('Title').waitFor();
    await conflict.getByRole('button', { name: 'Reload their version' }).waitFor();
    await conflict.getByRole('button', { name: 'Overwrite with mine' }).click();
    await a.page.getByText('Saved').first().waitFor();
    expect((await api(anna, 'GET', `/events/${ev.id}`)).body.event.summary).toBe('Budget sync v2');
    await a.context.close();
  });

  it('"this and following" on a weekly series', async () => {
    await createViaApi('Weekly standup', monday, '09:00', '09:30', { rrule: 'FREQ=WEEKLY;COUNT=6' });
    const { context, page } = await signedIn(browser, env.base, 'anna@example.com');
    await page.locator('.cal-toolbar').getByRole('button', { name: 'Next' }).click();
    await page.locator('.fc-event', { hasText: 'Weekly standup' }).first().waitFor();
    await openEvent(page, 'Weekly standup');
    await page.locator('dialog.event-view').getByRole('button', { name: 'Edit' }).click();
    const dlg = page.locator('dialog.editor');
    await dlg.getByLabel('Title').fill('Weekly standup (new format)');
    await dlg.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('radio', { name: 'This and following' }).check();
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByText('Saved').first().waitFor();
    const items = (await eventsBetween(anna, addDays(monday, -1), addDays(monday, 50))).filter((e) => e.summary.startsWith('Weekly standup')).sort((x, y) => x.start.localeCompare(y.start));
    expect(items.map((e) => e.summary)).toEqual(['Weekly standup', ...Array(5).fill('Weekly standup (new format)')]);
    await context.close();
  });

  it('delete with Undo restores the event', async () => {
    const ev = await createViaApi('Lunch with team', today, '12:00', '12:30');
    const { context, page } = await signedIn(browser, env.base, 'anna@example.com');
    await openEvent(page, 'Lunch with team');
    await page.locator('dialog.event-view').getByRole('button', { name: 'Delete' }).click();
    await page.getByText('Event deleted').waitFor();
    expect((await eventsBetween(anna, today, addDays(today, 1))).some((e) => e.id === ev.id)).toBe(false);
    await page.locator('.toast').getByRole('button', { name: 'Undo' }).click();
    await page.getByText('Event restored').waitFor();
    expect((await eventsBetween(anna, today, addDays(today, 1))).some((e) => e.id === ev.id)).toBe(true);
    await page.locator('.fc-event', { hasText: 'Lunch with team' }).waitFor();
    await context.close();
  });

  it('deleting "this and following" and Undo bring back the series with its moved occurrence', async () => {
    const ev = await createViaApi('Daily sync', today, '09:00', '09:30', { rrule: 'FREQ=DAILY;COUNT=4' });
    const occ = (await eventsBetween(anna, today, addDays(today, 5))).filter((e) => e.id === ev.id);
    expect(occ).toHaveLength(4);
    // The third occurrence is moved and renamed (an override the split would drop).
    const moved = await api(anna, 'PATCH', `/events/${ev.id}`, { event: { summary: 'Daily sync (late)', start: `${addDays(today, 2)}T17:00:00`, end: `${addDays(today, 2)}T17:30:00` }, scope: 'this', recurrenceId: occ[2].recurrenceId });
    expect(moved.status).toBe(200);
    const shape = async () => (await eventsBetween(anna, today, addDays(today, 5))).filter((e) => e.id === ev.id).map((e) => `${e.start} ${e.summary}`);
    const before = await shape();
    const { context, page } = await signedIn(browser, env.base, 'anna@example.com');
    await openEvent(page, 'Daily sync');
    await page.locator('dialog.event-view').getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('radio', { name: 'This and following' }).check();
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByText('Event deleted').waitFor();
    // From the opened occurrence on (whichever the view shows first), the moved one included.
    const after = await shape();
    expect(after.length).toBeLessThan(before.length);
    expect(after.join()).not.toContain('(late)');
    await page.locator('.toast').getByRole('button', { name: 'Undo' }).click();
    await page.getByText('Event restored').waitFor();
    expect(await shape()).toEqual(before);
    await context.close();
  });

  it('drags an event to a later time', async () => {
    const ev = await createViaApi('Focus time', today, '15:00', '16:00');
    const { context, page } = await signedIn(browser, env.base, 'anna@example.com');
    const el = page.locator('.fc-timegrid-event', { hasText: 'Focus time' }).first();
    await el.scrollIntoViewIfNeeded();
    const box = (await el.boundingBox())!;
    const slot = (await page.locator('.fc-timegrid-slot-lane').first().boundingBox())!.height;
    await page.mouse.move(box.x + box.width / 2, box.y + 8);
    await page.mouse.down();
    for (let i = 1; i <= 8; i++) await page.mouse.move(box.x + box.width / 2, box.y + 8 + (slot * 4 * i) / 8);
    await page.mouse.up();
    await page.getByText('Saved').first().waitFor();
    const moved = (await api(anna, 'GET', `/events/${ev.id}`)).body.event;
    expect(moved.start).toBe(`${today}T17:00:00`);
    expect(moved.end).toBe(`${today}T18:00:00`);
    await context.close();
  });

  it('renders the week view in Russian with Russian weekday names', async () => {
    const { context, page } = await signedIn(browser, env.base, 'clara@example.com', { locale: 'ru-RU' });
    const header = (await page.locator('.fc-col-header').innerText()).toLowerCase();
    expect(header).toMatch(/пн/);
    expect(header).toMatch(/вс/);
    await page.getByRole('button', { name: 'Неделя', exact: true }).waitFor();
    await context.close();
  });

  it('renders an XSS attempt in a title as text', async () => {
    const payload = '<img src=x onerror="window.__xss=1">';
    await createViaApi(payload, today, '16:30', '17:00');
    const { context, page } = await signedIn(browser, env.base, 'anna@example.com');
    await page.locator('.fc-event', { hasText: '<img src=x' }).first().waitFor();
    await openEvent(page, '<img src=x');
    await expect(page.locator('dialog.event-view h2').innerText()).resolves.toContain(payload);
    await expect(page.locator('img[src="x"]').count()).resolves.toBe(0);
    await expect(page.evaluate(() => (window as any).__xss)).resolves.toBeUndefined();
    await context.close();
  });
  it('propose a new time: the attendee proposes from the event panel; the organizer accepts it under Time proposals; the event moves', async () => {
    const ev = await createViaApi('Roadmap chat', today, '07:00', '07:30', { attendees: [{ email: 'boris@example.com' }] });
    const bh = await signInHeaders(env.app, 'boris@example.com');
    const copy = await until(async () => (await eventsBetween(bh, today, addDays(today, 1))).find((e) => e.summary === 'Roadmap chat'));

    // Boris opens his copy and proposes 19:00–19:30 with a comment.
    const b = await signedIn(browser, env.base, 'boris@example.com');
    await openEvent(b.page, 'Roadmap chat');
    const view = b.page.locator('dialog.event-view');
    await view.getByRole('button', { name: 'Propose a new time' }).click();
    const form = view.locator('form.propose-form');
    await expect(form.locator('input[name=proposeStartDay]').inputValue()).resolves.toBe(today);
    await expect(form.locator('input[name=proposeStartTime]').inputValue()).resolves.toBe('07:00');
    await form.locator('input[name=proposeStartTime]').fill('19:00');
    // The end follows the start and keeps the length.
    await expect(form.locator('input[name=proposeEndTime]').inputValue()).resolves.toBe('19:30');
    await form.getByLabel('Comment (optional)').fill('Mornings are busy <b>for me</b>');
    await form.getByRole('button', { name: 'Send proposal' }).click();
    await view.getByText('Proposal sent to Anna Petrova').waitFor();
    // His copy stays where it was until the organizer decides.
    expect((await api(bh, 'GET', `/events/${copy.id}`)).body.event.start).toBe(`${today}T07:00:00`);
    await b.context.close();

    // Anna sees the proposal (who, which event, the time, the comment) and accepts it.
    const a = await signedIn(browser, env.base, 'anna@example.com');
    await a.page.locator('.side-links').getByRole('button', { name: 'Time proposals' }).click();
    const dlg = a.page.locator('dialog.invitations');
    await expect(dlg.getByRole('tab', { name: 'Time proposals' }).getAttribute('aria-selected')).resolves.toBe('true');
    const item = dlg.locator('.proposal', { hasText: 'Roadmap chat' });
    await item.waitFor();
    await item.getByText('Boris Ivanov proposes').waitFor();
    await item.locator('.proposal-comment', { hasText: 'Mornings are busy <b>for me</b>' }).waitFor();
    await expect(item.locator('b').count()).resolves.toBe(0);
    expect(await item.locator('.proposed-time').innerText()).toMatch(/19:00\s*–\s*19:30/);
    await item.getByRole('button', { name: /Accept the new time/ }).click();
    await a.page.getByText('New time accepted: the event was moved').first().waitFor();
    await dlg.locator('.proposal', { hasText: 'Roadmap chat' }).waitFor({ state: 'detached' });
    await dlg.getByText('No time proposals are waiting for your decision.').waitFor();
    const moved = (await api(anna, 'GET', `/events/${ev.id}`)).body.event;
    expect(moved.start).toBe(`${today}T19:00:00`);
    expect(moved.end).toBe(`${today}T19:30:00`);
    // The calendar view reloaded: the event is shown at the new time.
    await a.page.keyboard.press('Escape');
    await expect.poll(() => a.page.locator('.fc-event', { hasText: 'Roadmap chat' }).first().innerText(), { timeout: 10_000 }).toMatch(/19:00/);
    await a.context.close();
  });

  it('propose a new time for one occurrence of a series; a stale proposal shows the 409 message; the organizer declines with a comment', async () => {
    const ev = await createViaApi('Series sync', today, '06:00', '06:30', { rrule: 'FREQ=DAILY;COUNT=2', attendees: [{ email: 'boris@example.com' }] });
    const bh = await signInHeaders(env.app, 'boris@example.com');
    const occ = await until(async () => (await eventsBetween(bh, today, addDays(today, 1))).find((e) => e.summary === 'Series sync'));
    expect(occ.recurrenceId).toBeTruthy();

    const b = await signedIn(browser, env.base, 'boris@example.com');
    await b.page.locator('.fc-event', { hasText: 'Series sync' }).first().waitFor();
    await openEvent(b.page, 'Series sync');
    const view = b.page.locator('dialog.event-view');
    await view.getByRole('button', { name: 'Propose a new time' }).click();
    const form = view.locator('form.propose-form');
    await form.getByText('Only for this occurrence').waitFor();
    await form.locator('input[name=proposeStartTime]').fill('20:00');
    await form.getByRole('button', { name: 'Send proposal' }).click();
    await view.getByText('Proposal sent to Anna Petrova').waitFor();
    await b.context.close();
    const [proposal] = (await api(anna, 'GET', '/proposals')).body.items.filter((p: any) => p.objectId === ev.id);
    expect(proposal.details.recurrenceId).toBeTruthy();

    // Anna changes the series meanwhile: the proposal is now stale.
    const cur = (await api(anna, 'GET', `/events/${ev.id}`)).body;
    const r = await api(anna, 'PATCH', `/events/${ev.id}`, { event: { start: `${today}T06:15:00`, end: `${today}T06:45:00` }, scope: 'all' }, { 'if-match': cur.etag });
    expect(r.status, JSON.stringify(r.body)).toBe(200);

    const a = await signedIn(browser, env.base, 'anna@example.com');
    await a.page.locator('.side-links').getByRole('button', { name: 'Time proposals' }).click();
    const dlg = a.page.locator('dialog.invitations');
    const item = dlg.locator('.proposal', { hasText: 'Series sync' });
    await item.getByText('Only the occurrence of').waitFor();
    expect(await item.locator('.proposed-time').innerText()).toMatch(/20:00\s*–\s*20:30/);
    await item.getByRole('button', { name: /Accept the new time/ }).click();
    await item.locator('.form-error', { hasText: 'The proposal was made for version' }).waitFor();
    await item.getByLabel('Comment if you decline (optional)').fill('Evenings do not work');
    await item.getByRole('button', { name: /Decline the proposal/ }).click();
    await a.page.getByText('Proposal declined').first().waitFor();
    await dlg.locator('.proposal', { hasText: 'Series sync' }).waitFor({ state: 'detached' });
    expect((await api(anna, 'GET', `/events/${ev.id}`)).body.event.start).toBe(`${today}T06:15:00`);
    await a.context.close();
  });

  it('a held e-mail invitation is accepted from Invitations → From e-mail; the decision log shows why it was held', async () => {
    // An invitation for Clara sent by an assistant, not by the organizer: the intake holds it.
    const day = today.replace(/-/g, '');
    const ical = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Partner//EN', 'METHOD:REQUEST', 'BEGIN:VEVENT', 'UID:partner-kickoff-1@partner.org', 'DTSTAMP:20300101T000000Z',
      `DTSTART:${day}T070000Z`, `DTEND:${day}T073000Z`, 'SUMMARY:Partner kick-off', 'SEQUENCE:0', 'ORGANIZER;CN=CEO:mailto:ceo@partner.org',
      'ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:clara@example.com', 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
    const raw = ['From: Assistant <assistant@partner.org>', 'To: clara@example.com', 'Subject: Invitation: Partner kick-off', `Message-ID: <kickoff-${Date.now()}@partner.org>`,
      'MIME-Version: 1.0', 'Content-Type: text/calendar; method=REQUEST; charset=utf-8', '', ical].join('\r\n');
    await receiveMail(env.ctx, Buffer.from(raw), { from: 'assistant@partner.org', to: ['clara@example.com'] }, 'http');
    const ch = await signInHeaders(env.app, 'clara@example.com');
    const held = await until(async () => (await api(ch, 'GET', '/intake/held')).body.items.find((d: any) => d.uid === 'partner-kickoff-1@partner.org'));
    expect(held.outcome).toBe('held');

    const { context, page } = await signedIn(browser, env.base, 'clara@example.com');
    await page.getByRole('button', { name: /Invitations/ }).first().click();
    const dlg = page.locator('dialog.invitations');
    await dlg.getByRole('tab', { name: 'From e-mail' }).click();
    const item = dlg.locator('.held-item', { hasText: 'Partner kick-off' });
    await item.waitFor();
    await item.getByText('From assistant@partner.org').waitFor();
    await dlg.locator('.decision-log tr[data-outcome="held"]').first().waitFor();
    await item.getByRole('button', { name: /Accept/ }).click();
    await page.getByText('Added to your calendar').first().waitFor();
    await dlg.locator('.decision-log tr[data-outcome="accepted"]').first().waitFor();
    await expect(dlg.locator('.held-item', { hasText: 'Partner kick-off' }).count()).resolves.toBe(0);
    expect((await eventsBetween(ch, today, addDays(today, 1))).some((e) => e.summary === 'Partner kick-off')).toBe(true);
    await page.keyboard.press('Escape');
    await page.locator('.fc-event', { hasText: 'Partner kick-off' }).first().waitFor();
    await context.close();

    // The same screen in Russian.
    const ru = await signedIn(browser, env.base, 'clara@example.com', { locale: 'ru-RU' });
    await ru.page.getByRole('button', { name: /Приглашения/ }).first().click();
    await ru.page.locator('dialog.invitations').getByRole('tab', { name: 'Из почты' }).click();
    await ru.page.locator('dialog.invitations .decision-log').getByText('Принято вами').first().waitFor();
    await ru.context.close();
  });

  it('settings: messenger channel stays disabled until the messenger is linked; the delivery log opens', async () => {
    const { context, page } = await signedIn(browser, env.base, 'anna@example.com');
    await page.getByRole('button', { name: /Settings/ }).first().click();
    const dlg = page.locator('dialog.settings');
    await dlg.locator('.link-state p').first().waitFor();
    const link = (await api(anna, 'GET', '/settings/vkteams')).body;
    expect(link.linked).toBe(false);
    await expect(dlg.getByRole('checkbox', { name: 'Invitations: Messenger', exact: true }).isDisabled()).resolves.toBe(true);
    await expect(dlg.getByRole('checkbox', { name: 'Invitations: E-mail', exact: true }).isDisabled()).resolves.toBe(false);
    await dlg.getByText('Delivery log').click();
    await dlg.locator('.delivery-log').getByText(/Nothing has been sent yet|Sent|Queued|Failed|Delivered|Skipped/).first().waitFor();
    await context.close();
  });

  it('accessibility: keyboard-only event editor, named controls, visible focus, focus trapped in dialogs, Escape closes', async () => {
    const { context, page } = await signedIn(browser, env.base, 'anna@example.com');
    const cdp = await context.newCDPSession(page);
    const unnamed = async () => {
      const { nodes } = await cdp.send('Accessibility.getFullAXTree') as { nodes: any[] };
      const roles = new Set(['button', 'textbox', 'searchbox', 'combobox', 'checkbox', 'radio', 'spinbutton', 'listbox', 'tab', 'slider', 'link', 'switch', 'menuitem']);
      return nodes.filter((n) => !n.ignored && roles.has(n.role?.value) && !String(n.name?.value ?? '').trim()).map((n) => `${n.role.value}#${n.backendDOMNodeId}`);
    };
    await expect(unnamed()).resolves.toEqual([]);

    // Open the editor from the keyboard: the title field has focus.
    await page.getByRole('button', { name: 'New event' }).focus();
    await page.keyboard.press('Enter');
    const dlg = page.locator('dialog.editor');
    await dlg.waitFor();
    await expect(page.evaluate(() => (document.activeElement as HTMLInputElement).name)).resolves.toBe('summary');
    await expect(unnamed()).resolves.toEqual([]);

    // Tab through every control: focus stays inside the dialog and is always visible.
    const seen = new Set<string>();
    for (let i = 0; i < 80; i++) {
      await page.keyboard.press('Tab');
      const st = await page.evaluate(() => {
        const el = document.activeElement as HTMLElement;
        const dialog = document.querySelector('dialog.editor')!;
        const target = el.classList.contains('sr-only') ? el.parentElement! : el;
        const cs = getComputedStyle(target);
        const visible = (cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2) || (cs.boxShadow !== 'none' && cs.boxShadow !== '');
        return { inside: dialog.contains(el), visible, id: `${el.tagName}.${(el as HTMLInputElement).name || el.getAttribute('aria-label') || el.textContent?.trim().slice(0, 20)}` };
      });
      expect(st.inside, `focus left the dialog at ${st.id}`).toBe(true);
      expect(st.visible, `no visible focus on ${st.id}`).toBe(true);
      seen.add(st.id);
    }
    expect(seen.size).toBeGreaterThan(15);

    // Tabs: arrow keys move between Details and Scheduling assistant.
    await dlg.getByRole('tab', { name: 'Details' }).focus();
    await page.keyboard.press('ArrowRight');
    await expect(dlg.getByRole('tab', { name: 'Scheduling assistant' }).getAttribute('aria-selected')).resolves.toBe('true');
    await page.keyboard.press('ArrowLeft');
    await expect(dlg.getByRole('tab', { name: 'Details' }).getAttribute('aria-selected')).resolves.toBe('true');

    // Contrast spot-check of the text in the editor (WCAG AA: 4.5:1, 3:1 for large text).
    const low = await page.evaluate(() => {
      const lum = (c: number[]) => { const f = (v: number) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }; return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
      const rgb = (s: string) => (s.match(/[\d.]+/g) ?? []).map(Number);
      const bgOf = (el: Element | null): number[] => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor); if (c.length >= 3 && (c[3] ?? 1) > 0.9) return c; } return [255, 255, 255]; };
      const out: string[] = [];
      let checked = 0;
      const walker = document.createTreeWalker(document.querySelector('dialog.editor')!, NodeFilter.SHOW_TEXT);
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const el = n.parentElement!;
        if (!n.textContent!.trim() || el.closest('.sr-only, [aria-hidden="true"], option, [disabled]')) continue;
        const r = el.getBoundingClientRect();
        if (!r.width || !r.height) continue;
        const cs = getComputedStyle(el);
        const a = lum(rgb(cs.color)), b = lum(bgOf(el));
        const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        const large = parseFloat(cs.fontSize) >= 24 || (parseFloat(cs.fontSize) >= 18.5 && Number(cs.fontWeight) >= 700);
        checked++;
        if (ratio < (large ? 3 : 4.5)) out.push(`${n.textContent!.trim().slice(0, 30)} (${ratio.toFixed(2)})`);
      }
      return { out, checked };
    });
    expect(low.out).toEqual([]);
    expect(low.checked).toBeGreaterThan(15);

    // Save with Enter from the title; then Escape closes a dialog and gives focus back.
    await dlg.getByLabel('Title').fill('Keyboard only');
    await dlg.getByLabel('Title').press('Enter');
    await page.getByText('Saved').first().waitFor();
    await page.locator('.fc-event', { hasText: 'Keyboard only' }).first().waitFor();
    const ev = page.locator('.fc-event', { hasText: 'Keyboard only' }).first();
    await ev.focus();
    await page.keyboard.press('Enter');
    await page.locator('dialog.event-view').waitFor();
    await page.keyboard.press('Escape');
    await page.locator('dialog.event-view').waitFor({ state: 'detached' });
    await expect(page.evaluate(() => document.activeElement?.classList.contains('fc-event'))).resolves.toBe(true);

    await page.getByRole('button', { name: 'New event' }).focus();
    await page.keyboard.press('Enter');
    await dlg.waitFor();
    await page.keyboard.press('Escape');
    await dlg.waitFor({ state: 'detached' });
    await expect(page.evaluate(() => document.activeElement?.textContent?.includes('New event'))).resolves.toBe(true);
    await context.close();
  });
});
