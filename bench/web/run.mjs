// Web UI benchmark: week view with 500 events — time from data arriving to an interactive grid,
// week-switch re-render time, and the initial JavaScript size (gzip). Prints a table.
//   node bench/web/run.mjs            (builds what is stale, starts a throwaway server)
// BENCH_WEB_RUNS (default 7) sets the number of runs. Besides wall time, each step reports the
// renderer main thread's CPU time (CDP Performance.getMetrics ThreadTime): on a shared, busy
// machine the wall time mostly measures waiting for a core, the CPU time what the page did.
import { readFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startServer, restAs, mondayOf, addDays, CHROMIUM_ARGS } from './server.mjs';

const N = 500;
const RUNS = Number(process.env.BENCH_WEB_RUNS ?? 7);

function initialJsGzip() {
  const html = readFileSync('web/dist/index.html', 'utf8');
  const entry = [...html.matchAll(/<script[^>]+src="\/([^"]+\.js)"/g)].map((m) => m[1]);
  const preload = [...html.matchAll(/<link[^>]+rel="modulepreload"[^>]+href="\/([^"]+)"/g)].map((m) => m[1]);
  const files = [...new Set([...entry, ...preload])];
  const js = files.reduce((s, f) => s + gzipSync(readFileSync(join('web/dist', f)), { level: 9 }).length, 0);
  const css = readdirSync('web/dist/assets').filter((f) => f.endsWith('.css')).reduce((s, f) => s + gzipSync(readFileSync(join('web/dist/assets', f)), { level: 9 }).length, 0);
  const lazy = readdirSync('web/dist/assets').filter((f) => f.endsWith('.js') && !files.includes('assets/' + f)).reduce((s, f) => s + gzipSync(readFileSync(join('web/dist/assets', f)), { level: 9 }).length, 0);
  return { js, css, lazy };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const srv = await startServer();
try {
  srv.addUser('bench@example.com', 'Bench User');
  const a = await restAs(srv.base, 'bench@example.com');
  const cal = (await a.call('GET', '/calendars')).items[0].id;
  const mon = mondayOf();
  // 500 events in this week (and 500 in the next, for the switch): 5 days × 10 hours × 10 overlapping.
  const seed = async (weekStart, tag) => {
    const jobs = [];
    for (let i = 0; i < N; i++) {
      const day = addDays(weekStart, i % 7), hour = 7 + ((i * 7) % 12), min = (i % 4) * 15;
      const s = `${day}T${String(hour).padStart(2, '0')}:${String(min).padStart(2, '0')}:00`;
      const e = `${day}T${String(hour + 1).padStart(2, '0')}:${String(min).padStart(2, '0')}:00`;
      jobs.push(() => a.call('POST', '/events', { calendarId: cal, event: { summary: `${tag} event ${i}`, start: s, end: e, timezone: 'UTC' } }));
    }
    for (let i = 0; i < jobs.length; i += 20) await Promise.all(jobs.slice(i, i + 20).map((f) => f()));
  };
  const t0 = Date.now();
  await seed(mon, 'A');
  await seed(addDays(mon, 7), 'B');
  await seed(addDays(mon, 14), 'C');
  console.error(`seeded ${3 * N} events in ${Date.now() - t0} ms`);

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  const render = [], sw = [], swFetch = [], renderCpu = [], swCpu = [], swFetchCpu = [];
  for (let run = 0; run < RUNS; run++) {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-GB' });
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable', { timeDomain: 'threadTicks' });
    const cpu = async () => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'ThreadTime').value * 1000;
    await page.goto(srv.base + '/');
    await page.getByLabel('E-mail').fill('bench@example.com');
    await page.getByLabel('Password').fill('password123');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    // Data arrival is stamped by the app (window.__calendulaEventsArrived); interactive = events in
    // the DOM and the main thread free again (a rAF + a setTimeout turn after the paint).
    // CPU is counted from the moment the events response is read (the app stamps the time).
    const ms = await page.evaluate(async (n) => {
      const until = (f) => new Promise((res) => { const tick = () => (f() ? res() : requestAnimationFrame(tick)); tick(); });
      await until(() => document.querySelectorAll('.fc-timegrid-event, .fc-timegrid-more-link').length >= 20);
      await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
      return performance.now() - window.__calendulaEventsArrived;
    }, N);
    render.push(ms);
    // Re-render the same week from fresh data for the CPU figure: drop the cache and refetch.
    {
      const c0 = await cpu();
      await page.evaluate(async () => {
        window.__calendulaEventsArrived = 0;
        window.dispatchEvent(new CustomEvent('calendula:refetch'));
        const until = (f) => new Promise((res) => { const tick = () => (f() ? res() : requestAnimationFrame(tick)); tick(); });
        await until(() => window.__calendulaEventsArrived > 0 && document.querySelectorAll('.fc-timegrid-event, .fc-timegrid-more-link').length >= 20);
        await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
      });
      renderCpu.push(await cpu() - c0);
    }
    // Switch to next week (prefetched: no request) and to the week after (needs a fetch).
    for (const [label, target, targetCpu] of [['B event', sw, swCpu], ['C event', swFetch, swFetchCpu]]) {
      const c0 = await cpu();
      const t = await page.evaluate(async (label) => {
        const btn = document.querySelector('.cal-toolbar button[aria-label="Next"]');
        const t0 = performance.now();
        btn.click();
        const until = (f) => new Promise((res) => { const tick = () => (f() ? res() : requestAnimationFrame(tick)); tick(); });
        await until(() => { const e = document.querySelector('.fc-timegrid-event .fc-event-title'); return e && e.textContent.startsWith(label); });
        await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
        return performance.now() - t0;
      }, label);
      target.push(t);
      targetCpu.push(await cpu() - c0);
    }
    await context.close();
  }
  await browser.close();
  const size = initialJsGzip();
  const rows = [
    ['week view, 500 events: data arrived → interactive (median of ' + RUNS + ')', `${median(render).toFixed(0)} ms`, '< 300 ms', median(render) < 300 ? 'ok' : 'OVER'],
    ['  same, main-thread CPU (refetch + re-render)', `${median(renderCpu).toFixed(0)} ms`, '', ''],
    ['switch to next week (prefetched range)', `${median(sw).toFixed(0)} ms`, '< 150 ms', median(sw) < 150 ? 'ok' : 'OVER'],
    ['  same, main-thread CPU', `${median(swCpu).toFixed(0)} ms`, '', ''],
    ['switch to the week after (fetch + render)', `${median(swFetch).toFixed(0)} ms`, '—', ''],
    ['  same, main-thread CPU', `${median(swFetchCpu).toFixed(0)} ms`, '', ''],
    ['initial JS (gzip -9)', `${(size.js / 1024).toFixed(1)} KB`, '< 350 KB', size.js < 350 * 1024 ? 'ok' : 'OVER'],
    ['CSS (gzip -9)', `${(size.css / 1024).toFixed(1)} KB`, '', ''],
    ['lazy chunks: editor + settings (gzip -9)', `${(size.lazy / 1024).toFixed(1)} KB`, '', ''],
  ];
  const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i].length), ['metric', 'value', 'target', ''][i].length));
  const line = (r) => '| ' + r.map((c, i) => c.padEnd(w[i])).join(' | ') + ' |';
  console.log(line(['metric', 'value', 'target', '']));
  console.log('|' + w.map((n) => '-'.repeat(n + 2)).join('|') + '|');
  for (const r of rows) console.log(line(r));
  const list = (xs) => xs.map((x) => x.toFixed(0)).join(', ');
  console.log(`\nruns (wall): render ${list(render)} ms; switch ${list(sw)} ms; switch+fetch ${list(swFetch)} ms`);
  console.log(`runs (CPU):  render ${list(renderCpu)} ms; switch ${list(swCpu)} ms; switch+fetch ${list(swFetchCpu)} ms`);
  console.log(`load average at the end: ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')} (${(await import('node:os')).cpus().length} cores)`);
} finally {
  await srv.stop();
}
