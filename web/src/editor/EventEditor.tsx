import { useEffect, useMemo, useRef, useState } from 'react';
import { api, ApiError, uploadAttachment } from '../api/client';
import type { Alarm, Attachment, Attendee, EventDetail, EventInput, Scope } from '../api/types';
import { errMessage, Modal, Tabs, tabPanelProps, useApp, type EditorRequest } from '../ui';
import { ScopeDialog } from '../CalendarView';
import { allZones, fromWall, toWall, addDaysDay, wallToDate, dateToDay } from '../tz';
import { defaultRule, fromRRule, summarize, toRRule, WEEKDAYS, type Rule, type Weekday } from '../recurrence';
import { Participants, SchedulingAssistant } from './Participants';
import { fmtSize } from '../Panels';
import type { Key } from '../i18n';

interface Rem { amount: number; unit: 'minutes' | 'hours' | 'days'; action: 'DISPLAY' | 'EMAIL' }
interface Form {
  summary: string; description: string; location: string; conference: string;
  allDay: boolean; startDay: string; startTime: string; endDay: string; endTime: string; timezone: string;
  rule: Rule; transparency: 'OPAQUE' | 'TRANSPARENT'; visibility: 'PUBLIC' | 'PRIVATE' | 'CONFIDENTIAL';
  calendarId: string; attendees: Attendee[]; reminders: Rem[]; attachments: Attachment[];
}

function remFromTrigger(a: Alarm): Rem {
  const m = /^-?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(a.trigger) ?? [];
  const min = (Number(m[1] ?? 0) * 7 + Number(m[2] ?? 0)) * 1440 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
  return fromMinutes(min, a.action === 'EMAIL' ? 'EMAIL' : 'DISPLAY');
}
function fromMinutes(min: number, action: Rem['action']): Rem {
  if (min > 0 && min % 1440 === 0) return { amount: min / 1440, unit: 'days', action };
  if (min > 0 && min % 60 === 0) return { amount: min / 60, unit: 'hours', action };
  return { amount: min, unit: 'minutes', action };
}
function remToAlarm(r: Rem): Alarm {
  const n = Math.max(0, Math.floor(r.amount));
  const trigger = r.unit === 'days' ? `-P${n}D` : r.unit === 'hours' ? `-PT${n}H` : `-PT${n}M`;
  return { action: r.action, trigger, related: 'START' };
}

function formFrom(req: EditorRequest, tz: string, defaults: { calendarId: string; reminders: Rem[] }): Form {
  if (req.mode === 'edit' && req.detail) {
    const ev = req.detail.event;
    const zone = ev.timezone || tz;
    const occ = req.occurrence;
    let s = ev.start, e = ev.end;
    if (occ && occ.recurring && occ.recurrenceId) { s = ev.allDay ? occ.start.slice(0, 10) : toWall(occ.start, zone); e = ev.allDay ? occ.end.slice(0, 10) : toWall(occ.end, zone); }
    const endDay = ev.allDay ? addDaysDay(e.slice(0, 10), -1) : e.slice(0, 10);
    return {
      summary: ev.summary ?? '', description: ev.description ?? '', location: ev.location ?? '', conference: ev.conference ?? '',
      allDay: !!ev.allDay, startDay: s.slice(0, 10), startTime: s.slice(11, 16) || '09:00', endDay: endDay < s.slice(0, 10) ? s.slice(0, 10) : endDay, endTime: e.slice(11, 16) || '10:00', timezone: zone,
      rule: fromRRule(ev.rrule, s.slice(0, 10)), transparency: ev.transparency ?? 'OPAQUE', visibility: ev.visibility ?? 'PUBLIC',
      calendarId: req.detail.calendarId, attendees: (ev.attendees ?? []).map((a) => ({ ...a })), reminders: (ev.alarms ?? []).map(remFromTrigger), attachments: ev.attachments ?? [],
    };
  }
  const s = req.start ?? dateToDay(new Date()) + 'T09:00:00';
  const e = req.end ?? s;
  const allDay = !!req.allDay;
  return {
    summary: '', description: '', location: '', conference: '', allDay,
    startDay: s.slice(0, 10), startTime: s.slice(11, 16) || '09:00', endDay: allDay ? addDaysDay(e.slice(0, 10), -1) : e.slice(0, 10), endTime: e.slice(11, 16) || '10:00',
    timezone: tz, rule: defaultRule(s.slice(0, 10)), transparency: allDay ? 'TRANSPARENT' : 'OPAQUE', visibility: 'PUBLIC',
    calendarId: req.calendarId ?? defaults.calendarId, attendees: [], reminders: defaults.reminders, attachments: [],
  };
}

const startWall = (f: Form) => (f.allDay ? f.startDay : `${f.startDay}T${f.startTime}:00`);
const endWall = (f: Form) => (f.allDay ? addDaysDay(f.endDay, 1) : `${f.endDay}T${f.endTime}:00`);

function toInput(f: Form): EventInput {
  return {
    summary: f.summary.trim(), description: f.description, location: f.location.trim(), conference: f.conference.trim() || undefined,
    start: startWall(f), end: endWall(f), allDay: f.allDay, ...(f.allDay ? {} : { timezone: f.timezone }),
    rrule: toRRule(f.rule, f.startDay), transparency: f.transparency, visibility: f.visibility,
    attendees: f.attendees.map((a) => ({ email: a.email, ...(a.name ? { name: a.name } : {}), role: a.role ?? 'REQ-PARTICIPANT', ...(a.cutype ? { cutype: a.cutype } : {}) })),
    alarms: f.reminders.map(remToAlarm), attachments: f.attachments.map((a) => ({ id: a.id })),
  };
}

/** Which fields differ between two versions (for the 412 conflict dialog). */
function changedFields(a: EventDetail['event'], b: EventDetail['event']): Key[] {
  const out: Key[] = [];
  const eq = (x: unknown, y: unknown) => JSON.stringify(x ?? null) === JSON.stringify(y ?? null);
  for (const k of ['summary', 'start', 'end', 'location', 'description', 'rrule'] as const) if (!eq(a[k], b[k])) out.push(`conflictField_${k}` as Key);
  if (!eq((a.attendees ?? []).map((x) => [x.email, x.partstat]), (b.attendees ?? []).map((x) => [x.email, x.partstat]))) out.push('conflictField_attendees');
  if (!out.length) out.push('conflictField_other');
  return out;
}

export default function EventEditor({ req, onClose }: { req: EditorRequest; onClose(): void }) {
  const app = useApp();
  const { t, tz, lang, calendars, me } = app;
  const writable = calendars.filter((c) => c.access === 'owner' || c.access === 'read-write');
  const defCal = writable.find((c) => c.isDefault) ?? writable[0];
  const [base, setBase] = useState<EventDetail | undefined>(req.detail);
  const [f, setF] = useState<Form>(() => formFrom(req, tz, { calendarId: defCal?.id ?? '', reminders: (defCal?.defaultReminders ?? []).map((r) => fromMinutes(r.minutesBefore, r.action)) }));
  const set = <K extends keyof Form>(k: K, v: Form[K]) => setF((x) => ({ ...x, [k]: v }));
  const [error, setError] = useState('');
  const [peopleErrors, setPeopleErrors] = useState<Record<string, string>>({});
  const [holder, setHolder] = useState<string | null>(null);
  const [askScope, setAskScope] = useState(false);
  const [conflict, setConflict] = useState<{ current: EventDetail; fields: Key[] } | null>(null);
  const [uploads, setUploads] = useState<{ name: string; p: number }[]>([]);
  const [saving, setSaving] = useState(false);
  const [tab, setTab] = useState<'details' | 'schedule'>('details');
  const mineLease = useRef(false);
  const isEdit = req.mode === 'edit' && !!base;
  const occ = req.occurrence;
  const recurring = !!(isEdit && occ?.recurring);
  const isOrganizer = !isEdit || base!.isOrganizer;
  // Overwriting a conflicting change is for the organizer; an event without participants belongs to whoever may edit it.
  const canOverwrite = isOrganizer || (!!base && base.editable && !(base.event.attendees ?? []).some((a) => a.email.toLowerCase() !== base.event.organizer?.email?.toLowerCase()));
  // Forcing past someone else's editing lease is the organizer's own (the owner of the organizer's side); a delegate overwrites only the newer version.
  const canForce = canOverwrite && base?.access === 'owner';

  // Edit lease: take it on open, keep it while open, give it back on close; when someone else holds it, retry.
  // Only the organizer's side is leased: an attendee's own copy (answer, own reminders) needs none.
  useEffect(() => {
    if (!isEdit || !base!.editable) return;
    const id = base!.id;
    let stop = false;
    const take = async () => {
      try { await api.takeLease(id); if (!stop) { mineLease.current = true; setHolder(null); } }
      catch (e) { if (!stop && e instanceof ApiError && e.status === 423) { mineLease.current = false; setHolder(e.details?.holderName ?? t('unknownPerson')); } }
    };
    if (base!.lease && base!.lease.holderId !== me.user.id) setHolder(base!.lease.holderName);
    take();
    const h = setInterval(take, 20000);
    return () => { stop = true; clearInterval(h); if (mineLease.current) api.releaseLease(id).catch(() => {}); };
  }, []);

  const zones = useMemo(() => allZones(), []);
  const startMs = f.allDay ? fromWall(f.startDay, tz).getTime() : fromWall(startWall(f), f.timezone).getTime();
  const endMs = f.allDay ? fromWall(addDaysDay(f.endDay, 1), tz).getTime() : fromWall(endWall(f), f.timezone).getTime();
  const duration = Math.max(15, Math.round((endMs - startMs) / 60000));

  const setStartDay = (d: string) => setF((x) => {
    const len = wallToDate(x.endDay).getTime() - wallToDate(x.startDay).getTime();
    const rule = { ...x.rule, byDay: x.rule.freq === 'WEEKLY' && x.rule.byDay.length <= 1 ? [fromRRule(null, d).byDay[0]] : x.rule.byDay };
    return { ...x, startDay: d, endDay: dateToDay(new Date(wallToDate(d).getTime() + Math.max(0, len))), rule };
  });
  const setStartTime = (tm: string) => setF((x) => {
    const s = wallToDate(`${x.startDay}T${x.startTime}:00`).getTime(), e = wallToDate(`${x.endDay}T${x.endTime}:00`).getTime();
    const ns = wallToDate(`${x.startDay}T${tm}:00`).getTime();
    const ne = new Date(ns + Math.max(15 * 60000, e - s)).toISOString();
    return { ...x, startTime: tm, endDay: ne.slice(0, 10), endTime: ne.slice(11, 16) };
  });

  const validate = (): string | null => {
    if (!f.calendarId) return t('calendar');
    if (endMs <= startMs && !f.allDay) return `${t('end')} ≤ ${t('start')}`;
    if (f.allDay && f.endDay < f.startDay) return `${t('end')} < ${t('start')}`;
    return null;
  };

  const submit = async (e?: React.FormEvent) => {
    e?.preventDefault();
    const v = validate();
    if (v) { setError(v); return; }
    if (recurring) { setAskScope(true); return; }
    await save('all');
  };

  const save = async (scope: Scope, force = false, etag = base?.etag) => {
    setAskScope(false); setSaving(true); setError(''); setPeopleErrors({});
    const input = toInput(f);
    try {
      if (!isEdit) {
        await api.createEvent(f.calendarId, input);
      } else {
        let patch: Partial<EventInput> = { ...input };
        if (recurring && occ) {
          // Only send the rule when it was changed here; the server splits the series (and its COUNT) itself.
          if (scope === 'this' || (patch.rrule ?? null) === (base!.event.rrule ?? null) || toRRule(fromRRule(base!.event.rrule, f.startDay), f.startDay) === patch.rrule) delete patch.rrule;
          if (scope === 'all') {
            const ev = base!.event;
            const zone = ev.timezone || tz;
            const occS = Date.parse(occ.start), occE = Date.parse(occ.end);
            const moved = startMs !== occS || endMs !== occE;
            if (!moved) { delete patch.start; delete patch.end; }
            else {
              const ms = ev.allDay ? wallToDate(ev.start).getTime() : fromWall(ev.start, zone).getTime();
              const me2 = ev.allDay ? wallToDate(ev.end).getTime() : fromWall(ev.end, zone).getTime();
              patch.start = f.allDay ? dateToDay(new Date(ms + startMs - occS)) : toWall(ms + startMs - occS, f.timezone);
              patch.end = f.allDay ? dateToDay(new Date(me2 + endMs - occE)) : toWall(me2 + endMs - occE, f.timezone);
            }
          }
        }
        await api.updateEvent(base!.id, etag, { event: patch, scope: recurring ? scope : undefined, recurrenceId: recurring && scope !== 'all' ? occ?.recurrenceId : undefined, force: force || undefined });
        if (f.calendarId !== base!.calendarId) await api.moveToCalendar(base!.id, f.calendarId);
      }
      app.toast(t('saved'));
      app.refetch();
      onClose();
    } catch (err) {
      if (err instanceof ApiError && err.code === 'ETAG_MISMATCH' && isEdit) {
        const current = await api.event(base!.id);
        setConflict({ current, fields: changedFields(base!.event, current.event) });
      } else if (err instanceof ApiError && err.code === 'LEASE_HELD') {
        setHolder(err.details?.holderName ?? t('unknownPerson'));
      } else {
        const d = err instanceof ApiError ? err.details : undefined;
        const email = (d?.email ?? d?.address) as string | undefined;
        if (email && f.attendees.some((a) => a.email.toLowerCase() === email.toLowerCase())) { setPeopleErrors({ [email.toLowerCase()]: errMessage(err) }); setTab('details'); }
        else if (Array.isArray(d?.emails)) setPeopleErrors(Object.fromEntries(d.emails.map((x: string) => [x.toLowerCase(), errMessage(err)])));
        setError(t('saveFailed', { message: errMessage(err) }));
      }
    }
    setSaving(false);
  };

  const upload = async (files: FileList | null) => {
    for (const file of Array.from(files ?? [])) {
      setUploads((u) => [...u, { name: file.name, p: 0 }]);
      try {
        const a = await uploadAttachment(file, (p) => setUploads((u) => u.map((x) => (x.name === file.name ? { ...x, p } : x))));
        setF((x) => ({ ...x, attachments: [...x.attachments, a] }));
      } catch (e) { setError(errMessage(e)); }
      setUploads((u) => u.filter((x) => x.name !== file.name));
    }
  };

  const readOnly = !!holder;
  const summary = summarize(f.rule, f.startDay, lang);
  const title = isEdit ? t('editEvent') : t('createEvent');
  return (
    <Modal title={title} onClose={onClose} wide className="editor" footer={<>
      {isEdit && isOrganizer && f.attendees.length > 0 && <span className="muted small grow">✉ {t('notifyWarn')}</span>}
      <button type="button" className="btn" onClick={onClose}>{t('cancel')}</button>
      <button type="submit" form="event-form" className="btn primary" disabled={saving || readOnly}>{t('save')}</button>
    </>}>
      {holder && <div className="banner warn lease-banner" role="alert"><span aria-hidden="true">⚠ </span>{t('editingBy', { name: holder })}</div>}
      <Tabs<'details' | 'schedule'> id="ed" label={t('editorTabs')} value={tab} onChange={setTab} tabs={[{ key: 'details', label: t('details') }, { key: 'schedule', label: t('scheduling') }]} />
      <form id="event-form" onSubmit={submit} className="editor-form">
        <fieldset disabled={readOnly} className="bare">
          <label className="field"><span className="sr-only">{t('title')}</span>
            <input className="title-input" name="summary" placeholder={t('title')} aria-label={t('title')} value={f.summary} onChange={(e) => set('summary', e.target.value)} maxLength={500} autoFocus={!isEdit} data-autofocus={!isEdit ? "" : undefined} />
          </label>
          <div className="when-grid">
            <label className="field">{t('start')}<input type="date" name="startDay" required value={f.startDay} onChange={(e) => e.target.value && setStartDay(e.target.value)} /></label>
            {!f.allDay && <label className="field"><span className="sr-only">{t('start')}</span><input type="time" name="startTime" aria-label={t('timeOf', { field: t('start') })} required value={f.startTime} onChange={(e) => e.target.value && setStartTime(e.target.value)} /></label>}
            <span aria-hidden="true" className="dash">–</span>
            <label className="field">{t('end')}<input type="date" name="endDay" required value={f.endDay} onChange={(e) => set('endDay', e.target.value)} /></label>
            {!f.allDay && <label className="field"><span className="sr-only">{t('end')}</span><input type="time" name="endTime" aria-label={t('timeOf', { field: t('end') })} required value={f.endTime} onChange={(e) => set('endTime', e.target.value)} /></label>}
            <label className="check"><input type="checkbox" name="allDay" checked={f.allDay} onChange={(e) => set('allDay', e.target.checked)} /> {t('allDay')}</label>
            {!f.allDay && <label className="field tz">{t('timezone')}
              <select value={f.timezone} onChange={(e) => set('timezone', e.target.value)}>{(zones.includes(f.timezone) ? zones : [f.timezone, ...zones]).map((z) => <option key={z}>{z}</option>)}</select></label>}
          </div>
          <div {...tabPanelProps('ed', tab)} className="tab-panel">
          {tab === 'schedule' ? (
            <>
              <Participants attendees={f.attendees} setAttendees={(a) => set('attendees', a)} errors={peopleErrors} organizerEmail={me.user.email} />
              <SchedulingAssistant attendees={f.attendees} meEmail={me.user.email} day={f.startDay} start={startMs} end={endMs} durationMinutes={duration}
                onPick={(s) => { const a = toWall(s.start, f.timezone), b = toWall(s.end, f.timezone); setF((x) => ({ ...x, allDay: false, startDay: a.slice(0, 10), startTime: a.slice(11, 16), endDay: b.slice(0, 10), endTime: b.slice(11, 16) })); }} />
            </>
          ) : (
            <>
              <RecurrenceBuilder rule={f.rule} setRule={(r) => set('rule', r)} startDay={f.startDay} summary={summary} />
              <label className="field">{t('location')}<input name="location" value={f.location} onChange={(e) => set('location', e.target.value)} maxLength={500} /></label>
              <label className="field">{t('conference')}<input name="conference" type="url" placeholder="https://" value={f.conference} onChange={(e) => set('conference', e.target.value)} /></label>
              <label className="field">{t('description')}<textarea name="description" rows={3} value={f.description} onChange={(e) => set('description', e.target.value)} /></label>
              <h3>{t('participants')}</h3>
              <Participants attendees={f.attendees} setAttendees={(a) => set('attendees', a)} errors={peopleErrors} organizerEmail={me.user.email} />
              <div className="row wrap">
                <label className="field">{t('calendar')}
                  <select name="calendarId" value={f.calendarId} onChange={(e) => set('calendarId', e.target.value)}>{writable.map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}</select></label>
                <label className="field">{t('showAs')}
                  <select value={f.transparency} onChange={(e) => set('transparency', e.target.value as Form['transparency'])}><option value="OPAQUE">{t('busy')}</option><option value="TRANSPARENT">{t('free')}</option></select></label>
                <label className="field">{t('visibility')}
                  <select value={f.visibility} onChange={(e) => set('visibility', e.target.value as Form['visibility'])}><option value="PUBLIC">{t('visDefault')}</option><option value="PRIVATE">{t('visPrivate')}</option><option value="CONFIDENTIAL">{t('visConfidential')}</option></select></label>
              </div>
              <fieldset className="reminders"><legend>{t('reminders')}</legend>
                {f.reminders.map((r, i) => (
                  <div className="row" key={i}>
                    <input type="number" min={0} max={999} aria-label={t('reminderN', { n: i + 1 })} value={r.amount} onChange={(e) => set('reminders', f.reminders.map((x, j) => (j === i ? { ...x, amount: Number(e.target.value) } : x)))} />
                    <select aria-label={t('reminderUnit', { n: i + 1 })} value={r.unit} onChange={(e) => set('reminders', f.reminders.map((x, j) => (j === i ? { ...x, unit: e.target.value as Rem['unit'] } : x)))}>
                      <option value="minutes">{t('minutes')}</option><option value="hours">{t('hours')}</option><option value="days">{t('days')}</option></select>
                    <span>{t('before')}</span>
                    <select aria-label={t('reminderHow', { n: i + 1 })} value={r.action} onChange={(e) => set('reminders', f.reminders.map((x, j) => (j === i ? { ...x, action: e.target.value as Rem['action'] } : x)))}>
                      <option value="DISPLAY">{t('rPopup')}</option><option value="EMAIL">{t('rEmail')}</option></select>
                    <button type="button" className="icon-btn small" aria-label={t('removeItem', { name: t('reminderN', { n: i + 1 }) })} onClick={() => set('reminders', f.reminders.filter((_, j) => j !== i))}>✕</button>
                  </div>
                ))}
                <button type="button" className="link-btn" onClick={() => set('reminders', [...f.reminders, { amount: 15, unit: 'minutes', action: 'DISPLAY' }])}>＋ {t('addReminder')}</button>
              </fieldset>
              <fieldset className="attachments"><legend>{t('attachments')}</legend>
                <ul className="plain-list">
                  {f.attachments.map((a) => (
                    <li key={a.id} className="row"><a href={a.url || api.attachmentUrl(a.id)} download={a.filename}>⎘ {a.filename}</a> <span className="muted small">{fmtSize(a.size)}</span>
                      <button type="button" className="icon-btn small" aria-label={t('removeItem', { name: a.filename })} onClick={() => set('attachments', f.attachments.filter((x) => x.id !== a.id))}>✕</button></li>
                  ))}
                  {uploads.map((u) => <li key={u.name}><label>{t('uploading', { name: u.name })} <progress max={1} value={u.p} /></label></li>)}
                </ul>
                <label className="btn small file-btn">+ {t('upload')}<input type="file" name="attachment" multiple className="sr-only" onChange={(e) => { upload(e.target.files); e.target.value = ''; }} /></label>
              </fieldset>
            </>
          )}
          </div>
        </fieldset>
        {error && <p className="form-error" role="alert">{error}</p>}
      </form>
      {askScope && <ScopeDialog title={t('editEvent')} recurring warn={isOrganizer && f.attendees.length > 0} onCancel={() => setAskScope(false)} onChoose={(s) => save(s)} />}
      {conflict && (
        <Modal title={t('conflictTitle')} onClose={() => setConflict(null)} className="conflict" footer={<>
          <button type="button" className="btn" onClick={() => { const c = conflict.current; setBase(c); setF(formFrom({ ...req, detail: c }, tz, { calendarId: f.calendarId, reminders: [] })); setConflict(null); }}>{t('reload')}</button>
          {canOverwrite && <button type="button" className="btn danger" onClick={() => { const c = conflict.current; setBase(c); setConflict(null); save(recurring ? 'all' : 'all', canForce, c.etag); }}>{t('overwrite')}</button>}
        </>}>
          <p>{t('conflictBody', { name: conflict.current.updatedBy || t('unknownPerson'), when: new Date(conflict.current.updatedAt).toLocaleTimeString(lang === 'ru' ? 'ru-RU' : 'en-GB', { hour: '2-digit', minute: '2-digit', timeZone: tz }) })}</p>
          <ul>{conflict.fields.map((k) => <li key={k}>{t(k)}</li>)}</ul>
          {!canOverwrite && <p className="muted">{t('conflictNotOrganizer')}</p>}
        </Modal>
      )}
    </Modal>
  );
}

function RecurrenceBuilder({ rule, setRule, startDay, summary }: { rule: Rule; setRule(r: Rule): void; startDay: string; summary: string }) {
  const { t, lang } = useApp();
  const up = (p: Partial<Rule>) => setRule({ ...rule, ...p });
  const loc = lang === 'ru' ? 'ru-RU' : 'en-GB';
  const dayLabel = (w: Weekday) => new Date(Date.UTC(2024, 0, 1 + WEEKDAYS.indexOf(w))).toLocaleDateString(loc, { weekday: 'short', timeZone: 'UTC' });
  const unit = { DAILY: t('days'), WEEKLY: lang === 'ru' ? 'недель' : 'weeks', MONTHLY: lang === 'ru' ? 'месяцев' : 'months', YEARLY: lang === 'ru' ? 'лет' : 'years', NONE: '' }[rule.freq];
  return (
    <fieldset className="recurrence"><legend>{t('repeat')}</legend>
      <div className="row wrap">
        <select aria-label={t('repeat')} name="freq" value={rule.freq} onChange={(e) => up({ freq: e.target.value as Rule['freq'] })}>
          <option value="NONE">{t('rNone')}</option><option value="DAILY">{t('rDaily')}</option><option value="WEEKLY">{t('rWeekly')}</option><option value="MONTHLY">{t('rMonthly')}</option><option value="YEARLY">{t('rYearly')}</option>
        </select>
        {rule.freq !== 'NONE' && <label className="inline">{t('every')} <input type="number" name="interval" min={1} max={99} value={rule.interval} onChange={(e) => up({ interval: Math.max(1, Number(e.target.value) || 1) })} /> {unit}</label>}
      </div>
      {rule.freq === 'WEEKLY' && (
        <div className="days" role="group" aria-label={t('onDays')}>
          {WEEKDAYS.map((w) => (
            <label key={w} className={`day-chip ${rule.byDay.includes(w) ? 'on' : ''}`}>
              <input type="checkbox" className="sr-only" checked={rule.byDay.includes(w)} onChange={(e) => up({ byDay: e.target.checked ? [...rule.byDay, w] : rule.byDay.filter((d) => d !== w) })} />{dayLabel(w)}
            </label>
          ))}
        </div>
      )}
      {rule.freq === 'MONTHLY' && (
        <div className="radios inline">
          <label><input type="radio" name="mmode" checked={rule.monthlyMode === 'date'} onChange={() => up({ monthlyMode: 'date' })} /> {summarize({ ...rule, interval: 1, end: 'never', monthlyMode: 'date' }, startDay, lang)}</label>
          <label><input type="radio" name="mmode" checked={rule.monthlyMode === 'weekday'} onChange={() => up({ monthlyMode: 'weekday' })} /> {summarize({ ...rule, interval: 1, end: 'never', monthlyMode: 'weekday' }, startDay, lang)}</label>
        </div>
      )}
      {rule.freq !== 'NONE' && (
        <div className="row wrap ends">
          <span>{t('ends')}:</span>
          <label><input type="radio" name="rend" checked={rule.end === 'never'} onChange={() => up({ end: 'never' })} /> {t('never')}</label>
          <label><input type="radio" name="rend" checked={rule.end === 'until'} onChange={() => up({ end: 'until', until: rule.until || addDaysDay(startDay, 30) })} /> {t('onDate')}</label>
          {rule.end === 'until' && <input type="date" name="until" aria-label={t('onDate')} value={rule.until} min={startDay} onChange={(e) => up({ until: e.target.value })} />}
          <label><input type="radio" name="rend" checked={rule.end === 'count'} onChange={() => up({ end: 'count' })} /> {t('afterN')}</label>
          {rule.end === 'count' && <label className="inline"><input type="number" name="count" min={1} max={999} aria-label={t('occurrences')} value={rule.count} onChange={(e) => up({ count: Math.max(1, Number(e.target.value) || 1) })} /> {t('occurrences')}</label>}
        </div>
      )}
      {rule.freq !== 'NONE' && <p className="rrule-summary" aria-live="polite">↻ {summary}</p>}
    </fieldset>
  );
}
