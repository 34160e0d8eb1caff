import { forwardRef, memo, useCallback, useEffect, useImperativeHandle, useMemo, useRef, useState, type RefObject } from 'react';
import FullCalendar from '@fullcalendar/react';
import dayGridPlugin from '@fullcalendar/daygrid';
import timeGridPlugin from '@fullcalendar/timegrid';
import listPlugin from '@fullcalendar/list';
import interactionPlugin from '@fullcalendar/interaction';
import ruLocale from '@fullcalendar/core/locales/ru';
import enGbLocale from '@fullcalendar/core/locales/en-gb';
import type { CalendarOptions, DatesSetArg, EventDropArg, EventInput as FcEvent, EventSourceFuncArg, DateSelectArg, EventClickArg, EventMountArg } from '@fullcalendar/core';
import type { VerboseFormattingArg } from '@fullcalendar/core/internal';
import type { EventResizeDoneArg } from '@fullcalendar/interaction';
import { api, ApiError } from './api/client';
import type { Occurrence, Scope } from './api/types';
import { dateToDay, dateToWall, fromWall, nowWall, toWall, wallToDate, addMinutesWall, addDaysDay } from './tz';
import { errMessage, formatRange, Modal, useApp, type AppCtx } from './ui';
import type { Key } from './i18n';

export interface CalendarHandle { refetch(): void; gotoDate(d: string): void }

const VIEWS = [
  { id: 'timeGridDay', key: 'day' }, { id: 'timeGridWeek', key: 'week' }, { id: 'timeGridWorkWeek', key: 'workWeek' },
  { id: 'dayGridMonth', key: 'month' }, { id: 'listWeek', key: 'agenda' },
] as const;
const PREFETCH_MS = 7 * 86400000;

export function firstDayFor(lang: string): number {
  if (lang === 'ru') return 1;
  try {
    const loc = new Intl.Locale(navigator.language || 'en-GB') as unknown as { getWeekInfo?: () => { firstDay: number }; weekInfo?: { firstDay: number } };
    const wi = loc.getWeekInfo?.() ?? loc.weekInfo;
    if (wi) return wi.firstDay % 7;
  } catch { /* older browsers */ }
  return /^en-(US|CA)/i.test(navigator.language) ? 0 : 1;
}

function textOn(bg: string): string {
  const m = /^#([0-9a-f]{6})$/i.exec(bg);
  if (!m) return '#fff';
  const n = parseInt(m[1], 16);
  const lum = (0.2126 * ((n >> 16) & 255) + 0.7152 * ((n >> 8) & 255) + 0.0722 * (n & 255)) / 255;
  return lum > 0.6 ? '#1b1b1b' : '#fff';
}

export function occToFc(o: Occurrence, app: Pick<AppCtx, 'tz' | 't' | 'prefs' | 'calendars'>, calColor: Map<string, string>): FcEvent | null {
  const declined = o.myPartstat === 'DECLINED';
  if (declined && app.prefs.declined === 'hide') return null;
  const color = o.color || calColor.get(o.calendarId) || '#1a5fb4';
  const cls: string[] = [];
  if (o.recurring) cls.push('ev-recurring');
  if (o.visibility && o.visibility !== 'PUBLIC') cls.push('ev-private');
  if (o.myPartstat === 'NEEDS-ACTION' && !o.isOrganizer) cls.push('ev-needs');
  if (o.myPartstat === 'TENTATIVE' || o.status === 'TENTATIVE') cls.push('ev-tentative');
  if (declined) cls.push('ev-declined');
  if (o.status === 'CANCELLED') cls.push('ev-cancelled');
  if (o.transparency === 'TRANSPARENT') cls.push('ev-free');
  const start = o.allDay ? o.start.slice(0, 10) : toWall(o.start, app.tz);
  const end = o.allDay ? o.end.slice(0, 10) : toWall(o.end, app.tz);
  return {
    id: `${o.id}|${o.recurrenceId ?? ''}`, title: o.busyOnly ? app.t('busy') : o.summary || app.t('noTitle'),
    start, end, allDay: o.allDay, editable: o.editable && !o.busyOnly, backgroundColor: color, borderColor: color, textColor: textOn(color),
    classNames: cls, extendedProps: { occ: o },
  };
}

interface Pending { occ: Occurrence; start: string; end: string; allDay: boolean; kind: 'move' | 'resize'; revert(): void }

/** A callback whose identity never changes but which always runs the latest closure (keeps
 *  FullCalendar's options stable, so a React re-render never resets and re-renders the grid). */
function useStable<A extends unknown[], R>(fn: (...a: A) => R): (...a: A) => R {
  const r = useRef(fn);
  r.current = fn;
  return useCallback((...a: A) => r.current(...a), []);
}

/** The grid itself, memoised: it re-renders only when its options object changes (language, zone,
 *  working hours, second zone) — never for the toolbar title, the spinner or an open dialog. */
const Grid = memo(function Grid({ fcRef, options }: { fcRef: RefObject<FullCalendar | null>; options: CalendarOptions }) {
  return <FullCalendar ref={fcRef} {...options} />;
});

const PLUGINS = [dayGridPlugin, timeGridPlugin, listPlugin, interactionPlugin];
const LOCALES = [ruLocale, enGbLocale];
const TIME_FMT = { hour: '2-digit', minute: '2-digit', hour12: false } as const;
// Event times as a plain function: FullCalendar's native range formatter builds a new
// Intl.DateTimeFormat for every event it renders (~0.1 ms each, most of a week switch).
const hhmm = (d: { hour: number; minute: number }) => `${d.hour < 10 ? '0' : ''}${d.hour}:${d.minute < 10 ? '0' : ''}${d.minute}`;
const eventTimeText = (a: VerboseFormattingArg) => (a.end && (a.end.hour !== a.start.hour || a.end.minute !== a.start.minute) ? `${hhmm(a.start)} – ${hhmm(a.end)}` : hhmm(a.start));

/** EventInput objects memoised per occurrence object (the cache keeps the same objects until the
 *  next fetch) and per display setting, so a week switch inside the cached range re-uses them. */
interface FcMemo { key: string; map: WeakMap<Occurrence, FcEvent | null> }

export const CalendarView = forwardRef<CalendarHandle>(function CalendarView(_props, ref) {
  const app = useApp();
  const { t, lang, tz, me, calendars, hiddenIds, prefs } = app;
  const fc = useRef<FullCalendar>(null);
  const cache = useRef<{ key: string; from: number; to: number; items: Occurrence[] } | null>(null);
  const inflight = useRef<{ key: string; from: number; to: number; p: Promise<Occurrence[]> } | null>(null);
  const memo = useRef<FcMemo>({ key: '', map: new WeakMap() });
  const latest = useRef({ app, hiddenIds });
  latest.current = { app, hiddenIds };
  const [title, setTitle] = useState('');
  const [view, setView] = useState<string>(() => localStorage.getItem('calendula.view') || (window.innerWidth < 700 ? 'timeGridDay' : 'timeGridWeek'));
  const [pending, setPending] = useState<Pending | null>(null);
  const [loading, setLoading] = useState(false);

  const colorKey = calendars.map((c) => `${c.id}:${c.color}`).join(',');
  const calColor = useMemo(() => new Map(calendars.map((c) => [c.id, c.color])), [colorKey]);
  const calColorRef = useRef(calColor);
  calColorRef.current = calColor;

  const visibleKey = useMemo(() => calendars.filter((c) => !hiddenIds.has(c.id)).map((c) => c.id).join(','), [calendars, hiddenIds]);
  const visibleKeyRef = useRef(visibleKey);
  visibleKeyRef.current = visibleKey;

  const source = useCallback((info: EventSourceFuncArg, success: (e: FcEvent[]) => void, failure: (e: Error) => void) => {
    const { app: a } = latest.current;
    const key = visibleKeyRef.current;
    const from = fromWall(dateToWall(info.start), a.tz).getTime();
    const to = fromWall(dateToWall(info.end), a.tz).getTime();
    const render = (items: Occurrence[]) => {
      // Only the visible range goes to FullCalendar (the cache also holds the prefetched weeks).
      const dayFrom = dateToDay(info.start), dayTo = dateToDay(info.end);
      const inRange = items.filter((o) => {
        if (o.allDay) return o.start.slice(0, 10) < dayTo && (o.end.slice(0, 10) > dayFrom || o.start.slice(0, 10) >= dayFrom);
        const s = Date.parse(o.start), e = Date.parse(o.end);
        return s < to && (e > from || s >= from);
      });
      // The same meeting can arrive twice (my copy and a colleague's shared calendar): keep mine.
      const own = new Set(a.calendars.filter((c) => c.access === 'owner').map((c) => c.id));
      const mine = new Set<string>();
      for (const o of inRange) if (own.has(o.calendarId)) mine.add(`${o.uid}|${o.recurrenceId ?? ''}`);
      const mkey = `${a.tz}|${a.prefs.declined}|${a.lang}|${colorKeyOf(calColorRef.current)}`;
      if (memo.current.key !== mkey) memo.current = { key: mkey, map: new WeakMap() };
      const m = memo.current.map;
      const out: FcEvent[] = [];
      for (const o of inRange) {
        if (!own.has(o.calendarId) && mine.has(`${o.uid}|${o.recurrenceId ?? ''}`)) continue;
        let e = m.get(o);
        if (e === undefined) { e = occToFc(o, a, calColorRef.current); m.set(o, e); }
        if (e) out.push(e);
      }
      success(out);
    };
    const c = cache.current;
    if (c && c.key === key && c.from <= from && c.to >= to) { render(c.items); return; }
    if (!key) { render([]); return; }
    // A request covering this range is already on its way (e.g. a refetch right after mount): share it.
    const f = inflight.current;
    if (f && f.key === key && f.from <= from && f.to >= to) { f.p.then(render, failure); return; }
    const pf = from - PREFETCH_MS, pt = to + PREFETCH_MS;
    setLoading(true);
    const p = api.events(new Date(pf).toISOString(), new Date(pt).toISOString(), key.split(',')).then((r) => r.items);
    const mine = { key, from: pf, to: pt, p };
    inflight.current = mine;
    p.then((items) => {
      if (inflight.current === mine) { cache.current = { key, from: pf, to: pt, items }; }
      (window as any).__calendulaEventsArrived = performance.now();
      render(items);
    })
      .catch((e) => { a.toast(a.t('errorGeneric', { message: errMessage(e) }), { error: true }); failure(e); })
      .finally(() => { if (inflight.current === mine) inflight.current = null; setLoading(false); });
  }, []);

  const refetch = useCallback(() => { cache.current = null; inflight.current = null; fc.current?.getApi().refetchEvents(); }, []);
  // Other parts of the page (and the benchmark) can ask for fresh data without a handle.
  useEffect(() => { window.addEventListener('calendula:refetch', refetch); return () => window.removeEventListener('calendula:refetch', refetch); }, [refetch]);
  useImperativeHandle(ref, () => ({ refetch, gotoDate: (d: string) => fc.current?.getApi().gotoDate(wallToDate(d.slice(0, 10))) }), [refetch]);
  // Calendar visibility, zone or display preferences changed: re-read (from cache when it covers the range).
  const refetchKey = `${visibleKey}|${tz}|${prefs.declined}|${colorKey}|${lang}`;
  const lastRefetchKey = useRef(refetchKey);
  useEffect(() => {
    if (lastRefetchKey.current === refetchKey) return;
    lastRefetchKey.current = refetchKey;
    fc.current?.getApi().refetchEvents();
  }, [refetchKey]);

  const onDatesSet = useStable((arg: DatesSetArg) => {
    setTitle(arg.view.title);
    window.dispatchEvent(new CustomEvent('calendula:range', { detail: { start: dateToDay(arg.start), end: dateToDay(arg.end), current: dateToDay(arg.view.currentStart) } }));
  });
  const changeView = (v: string) => { setView(v); localStorage.setItem('calendula.view', v); fc.current?.getApi().changeView(v); };

  const wh = me.settings.workingHours ?? { days: [1, 2, 3, 4, 5], start: '09:00', end: '18:00' };
  const whKey = `${wh.days.join(',')}|${wh.start}|${wh.end}`;

  const onSelect = useStable((s: DateSelectArg) => {
    let start = s.allDay ? dateToDay(s.start) : dateToWall(s.start);
    let end = s.allDay ? dateToDay(s.end) : dateToWall(s.end);
    if (!s.allDay && s.end.getTime() - s.start.getTime() <= 30 * 60000) end = addMinutesWall(start, 60);
    if (s.view.type === 'dayGridMonth' && s.end.getTime() - s.start.getTime() === 86400000) { start = dateToDay(s.start) + 'T09:00:00'; end = dateToDay(s.start) + 'T10:00:00'; }
    fc.current?.getApi().unselect();
    app.openEditor({ mode: 'create', start, end, allDay: s.allDay && s.view.type !== 'dayGridMonth' ? true : s.view.type === 'dayGridMonth' ? false : s.allDay });
  });
  const onClick = useStable((c: EventClickArg) => { c.jsEvent.preventDefault(); app.openEvent(c.event.extendedProps.occ as Occurrence); });
  const onChange = (kind: 'move' | 'resize') => (d: EventDropArg | EventResizeDoneArg) => {
    const occ = d.event.extendedProps.occ as Occurrence;
    const allDay = d.event.allDay;
    const s = d.event.start!;
    let start: string, end: string;
    if (allDay) { start = dateToDay(s); end = d.event.end ? dateToDay(d.event.end) : addDaysDay(start, 1); }
    else { start = dateToWall(s); end = d.event.end ? dateToWall(d.event.end) : addMinutesWall(start, 60); }
    const p: Pending = { occ, start, end, allDay, kind, revert: d.revert };
    if (occ.recurring || (occ.attendeeCount > 0 && occ.isOrganizer)) setPending(p);
    else void applyChange(p, 'all');
  };
  const onDrop = useStable(onChange('move'));
  const onResize = useStable(onChange('resize'));

  const applyChange = async (p: Pending, scope: Scope) => {
    setPending(null);
    try {
      const detail = await api.event(p.occ.id);
      const evTz = detail.event.timezone || tz;
      const conv = (w: string) => (p.allDay ? w : toWall(fromWall(w, tz), evTz));
      let start = conv(p.start), end = conv(p.end);
      if (p.occ.recurring && scope === 'all') {
        // Shift the series by the same amount the occurrence moved.
        const oldS = p.occ.allDay ? wallToDate(p.occ.start.slice(0, 10)).getTime() : Date.parse(p.occ.start);
        const oldE = p.occ.allDay ? wallToDate(p.occ.end.slice(0, 10)).getTime() : Date.parse(p.occ.end);
        const newS = p.allDay ? wallToDate(p.start).getTime() : fromWall(p.start, tz).getTime();
        const newE = p.allDay ? wallToDate(p.end).getTime() : fromWall(p.end, tz).getTime();
        const ms = detail.event.allDay ? wallToDate(detail.event.start).getTime() : fromWall(detail.event.start, evTz).getTime();
        const me2 = detail.event.allDay ? wallToDate(detail.event.end).getTime() : fromWall(detail.event.end, evTz).getTime();
        start = p.allDay ? dateToDay(new Date(ms + newS - oldS)) : toWall(ms + newS - oldS, evTz);
        end = p.allDay ? dateToDay(new Date(me2 + newE - oldE)) : toWall(me2 + newE - oldE, evTz);
      }
      await api.updateEvent(p.occ.id, detail.etag, {
        event: { start, end, allDay: p.allDay, ...(p.allDay ? {} : { timezone: evTz }) },
        scope: p.occ.recurring ? scope : undefined,
        recurrenceId: p.occ.recurring && scope !== 'all' ? p.occ.recurrenceId : undefined,
      });
      app.toast(t('saved'));
    } catch (e) {
      p.revert();
      if (e instanceof ApiError && e.code === 'LEASE_HELD') app.toast(t('editingBy', { name: e.details?.holderName ?? t('unknownPerson') }), { error: true });
      else app.toast(t('saveFailed', { message: errMessage(e) }), { error: true });
    }
    refetch();
  };

  // Per mounted event: an accessible name (title, time, marks not conveyed by colour alone). Only
  // the events FullCalendar actually puts in the DOM get here (eventMaxStack hides the rest).
  const onMount = useStable((m: EventMountArg) => {
    const o = m.event.extendedProps.occ as Occurrence;
    const { t: tt, tz: z, lang: l } = latest.current.app;
    const marks: string[] = [];
    if (o.recurring) marks.push(tt('recurringMark'));
    if (o.visibility && o.visibility !== 'PUBLIC') marks.push(tt('privateMark'));
    if (o.myPartstat === 'NEEDS-ACTION' && !o.isOrganizer) marks.push(tt('needsAnswer'));
    if (o.myPartstat === 'TENTATIVE') marks.push(tt('tentativeMark'));
    if (o.myPartstat === 'DECLINED') marks.push(tt('declinedMark'));
    const label = `${m.event.title}, ${formatRange(o.start, o.end, o.allDay, z, l)}${marks.length ? ' — ' + marks.join(', ') : ''}`;
    m.el.setAttribute('aria-label', label);
    m.el.setAttribute('title', label);
    if (!m.el.getAttribute('href')) { m.el.setAttribute('tabindex', '0'); m.el.setAttribute('role', 'button'); }
  });
  const onKeyDownEvent = useCallback((e: React.KeyboardEvent) => {
    // Keyboard users open an event with Enter or Space (FullCalendar only listens for clicks).
    const el = (e.target as HTMLElement).closest?.('.fc-event[role="button"]') as HTMLElement | null;
    if (el && (e.key === 'Enter' || e.key === ' ')) { e.preventDefault(); el.click(); }
  }, []);

  const secondZone = prefs.secondZone;
  const now = useStable(() => nowWall(latest.current.app.tz));
  const initialView = useRef(view).current;
  const options = useMemo<CalendarOptions>(() => {
    const hiddenDays = [0, 1, 2, 3, 4, 5, 6].filter((d) => !wh.days.includes(d));
    const slotLabelContent = secondZone ? (arg: { date: Date; text: string }) => {
      const inst = fromWall(dateToWall(arg.date), tz).getTime();
      const other = toWall(inst, secondZone).slice(11, 16);
      return { html: `<span class="slot-main">${arg.text}</span><span class="slot-second">${other}</span>` };
    } : undefined;
    return {
      plugins: PLUGINS, initialView, locales: LOCALES,
      views: { timeGridWorkWeek: { type: 'timeGrid', duration: { weeks: 1 }, hiddenDays, dateAlignment: 'week' } },
      locale: lang === 'ru' ? 'ru' : 'en-gb', firstDay: firstDayFor(lang), timeZone: 'UTC', now,
      headerToolbar: false, height: '100%', nowIndicator: true, navLinks: true, weekNumbers: false,
      dayMaxEventRows: true, eventMaxStack: 3, selectable: true, selectMirror: true, editable: true,
      eventStartEditable: true, eventDurationEditable: true, scrollTime: wh.start + ':00', slotDuration: '00:30:00',
      businessHours: { daysOfWeek: wh.days, startTime: wh.start, endTime: wh.end },
      events: source, lazyFetching: true, progressiveEventRendering: false,
      datesSet: onDatesSet, select: onSelect, eventClick: onClick, eventDrop: onDrop, eventResize: onResize, eventDidMount: onMount,
      slotLabelContent, slotLabelFormat: TIME_FMT, eventTimeFormat: eventTimeText, noEventsContent: t('noEvents'),
    };
  }, [lang, tz, whKey, secondZone, t]);

  const api2 = () => fc.current?.getApi();
  return (
    <div className="cal-wrap">
      <div className="cal-toolbar">
        <div className="nav-group">
          <button type="button" className="btn" onClick={() => api2()?.gotoDate(nowWall(tz))}>{t('today')}</button>
          <button type="button" className="icon-btn" aria-label={t('prev')} title={t('prev')} onClick={() => api2()?.prev()}>‹</button>
          <button type="button" className="icon-btn" aria-label={t('next')} title={t('next')} onClick={() => api2()?.next()}>›</button>
          <h1 className="cal-title" aria-live="polite">{title}</h1>
          {loading && <span className="spinner" role="progressbar" aria-label={t('loading')} />}
        </div>
        <div className="seg" role="group" aria-label={t('view')}>
          {VIEWS.map((v) => (
            <button key={v.id} type="button" className={`seg-btn ${view === v.id ? 'active' : ''} view-${v.key}`} aria-pressed={view === v.id} onClick={() => changeView(v.id)}>{t(v.key as Key)}</button>
          ))}
        </div>
      </div>
      <div className={`cal ${prefs.declined === 'dim' ? 'dim-declined' : ''}`} onKeyDown={onKeyDownEvent}>
        <Grid fcRef={fc} options={options} />
      </div>
      {pending && (
        <ScopeDialog title={t(pending.kind === 'move' ? 'moveEvent' : 'resizeEvent')} recurring={pending.occ.recurring}
          warn={pending.occ.attendeeCount > 0 && pending.occ.isOrganizer}
          onCancel={() => { pending.revert(); setPending(null); }} onChoose={(s) => applyChange(pending, s)} />
      )}
    </div>
  );
});

const colorKeyOf = (m: Map<string, string>) => [...m].map(([k, v]) => k + v).join(',');

export function ScopeDialog({ title, recurring, warn, onCancel, onChoose, question, allowFollowing = true }: { title: string; recurring: boolean; warn: boolean; onCancel(): void; onChoose(s: Scope): void; question?: string; allowFollowing?: boolean }) {
  const { t } = useApp();
  const [scope, setScope] = useState<Scope>('this');
  return (
    <Modal title={title} onClose={onCancel} footer={<>
      <button type="button" className="btn" onClick={onCancel}>{t('cancel')}</button>
      <button type="button" className="btn primary" autoFocus data-autofocus="" onClick={() => onChoose(recurring ? scope : 'all')}>{t('apply')}</button>
    </>}>
      {recurring && (
        <fieldset className="radios">
          <legend>{question ?? t('recurringQ')}</legend>
          <label><input type="radio" name="scope" checked={scope === 'this'} onChange={() => setScope('this')} /> {t('thisOccurrence')}</label>
          {allowFollowing && <label><input type="radio" name="scope" checked={scope === 'following'} onChange={() => setScope('following')} /> {t('thisAndFollowing')}</label>}
          <label><input type="radio" name="scope" checked={scope === 'all'} onChange={() => setScope('all')} /> {t('allOccurrences')}</label>
        </fieldset>
      )}
      {warn && <p className="warn" role="note"><span aria-hidden="true">✉ </span>{t('notifyWarn')}</p>}
    </Modal>
  );
}
