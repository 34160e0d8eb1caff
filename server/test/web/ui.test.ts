/**
 * The web UI end to end (issue 7 "Tests"): a real server with the built web/dist, a job worker,
 * and Debian's chromium driven by playwright-core. Skipped, with a message, only when chromium is absent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { makeUser, signInHeaders } from '../support/harness.js';
import { hasChromium, CHROMIUM, launch, signedIn, startWebEnv, type WebEnv } from './support.js';

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
    await expect(page.getByRole('checkbox', { name: /Show Calendar/ }).count()).resolves.toBe(1);
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
});
