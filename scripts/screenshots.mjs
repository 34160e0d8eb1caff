// Regenerates docs/screenshots/{week,editor,month,settings}.png from a throwaway server with demo data.
//   node scripts/screenshots.mjs
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { startServer, restAs, mondayOf, addDays, CHROMIUM_ARGS } from '../bench/web/server.mjs';

const srv = await startServer();
try {
  srv.addUser('anna@example.com', 'Anna Petrova', ['--timezone', 'UTC']);
  srv.addUser('boris@example.com', 'Boris Ivanov');
  srv.addUser('clara@example.com', 'Clara Smith');
  const a = await restAs(srv.base, 'anna@example.com');
  const b = await restAs(srv.base, 'boris@example.com');
  const cal = (await a.call('GET', '/calendars')).items[0].id;
  const team = await a.call('POST', '/calendars', { name: 'Team', color: '#26a269' });
  const bcal = (await b.call('GET', '/calendars')).items[0].id;
  await b.call('PUT', `/calendars/${bcal}/shares`, { email: 'anna@example.com', access: 'read' });
  const mon = mondayOf();
  const ev = (calendarId, summary, day, s, e, extra = {}) => a.call('POST', '/events', { calendarId, event: { summary, start: `${addDays(mon, day)}T${s}:00`, end: `${addDays(mon, day)}T${e}:00`, timezone: 'UTC', ...extra } });
  await ev(cal, 'Weekly planning', 0, '09:30', '10:30', { rrule: 'FREQ=WEEKLY;BYDAY=MO', attendees: [{ email: 'boris@example.com' }, { email: 'clara@example.com' }] });
  await ev(cal, 'Design review', 1, '11:00', '12:30', { location: 'Room Neva', attendees: [{ email: 'clara@example.com' }] });
  await ev(team.id, 'Lunch with the team', 2, '13:00', '14:00');
  await ev(cal, '1:1 Clara', 3, '15:00', '15:30', { attendees: [{ email: 'clara@example.com' }] });
  await ev(team.id, 'Release 1.4', 4, '10:00', '11:00', { description: 'Go / no-go' });
  await ev(cal, 'Focus time', 2, '09:00', '11:30', { transparency: 'TRANSPARENT' });
  await ev(team.id, 'Offsite', 4, '14:00', '17:30');
  await b.call('POST', '/events', { calendarId: bcal, event: { summary: 'Customer call', start: `${addDays(mon, 3)}T10:00:00`, end: `${addDays(mon, 3)}T11:00:00`, timezone: 'UTC' } });
  await a.call('POST', '/events', { calendarId: cal, event: { summary: 'Conference', start: addDays(mon, 1), end: addDays(mon, 3), allDay: true } });

  mkdirSync('docs/screenshots', { recursive: true });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  const page = await (await browser.newContext({ viewport: { width: 1366, height: 820 }, locale: 'en-GB', timezoneId: 'UTC' })).newPage();
  await page.goto(srv.base + '/');
  await page.getByLabel('E-mail').fill('anna@example.com');
  await page.getByLabel('Password').fill('password123');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.locator('.fc-event', { hasText: 'Design review' }).first().waitFor();
  await page.waitForTimeout(300);
  await page.screenshot({ path: 'docs/screenshots/week.png' });

  await page.locator('.fc-timegrid-event', { hasText: 'Design review' }).first().click({ force: true });
  await page.locator('dialog.event-view').getByRole('button', { name: 'Edit' }).click();
  await page.locator('dialog.editor').getByRole('tab', { name: 'Scheduling assistant' }).click();
  await page.locator('dialog.editor').getByLabel('Add people, groups or rooms').fill('clara@example.com');
  await page.locator('dialog.editor').getByLabel('Add people, groups or rooms').press('Enter');
  await page.locator('dialog.editor').getByRole('button', { name: 'Find a time' }).click();
  await page.waitForTimeout(800);
  await page.screenshot({ path: 'docs/screenshots/editor.png' });
  await page.keyboard.press('Escape');
  await page.waitForTimeout(200);

  await page.locator('.seg').getByRole('button', { name: 'Month', exact: true }).click();
  await page.waitForTimeout(400);
  await page.screenshot({ path: 'docs/screenshots/month.png' });

  await page.getByRole('button', { name: /Settings/ }).first().click();
  await page.locator('dialog.settings').waitFor();
  await page.waitForTimeout(300);
  await page.screenshot({ path: 'docs/screenshots/settings.png' });
  await browser.close();
  console.log('wrote docs/screenshots/{week,editor,month,settings}.png');
} finally {
  await srv.stop();
}
