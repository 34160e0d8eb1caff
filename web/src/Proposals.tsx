// Time proposals (iTIP COUNTER): the attendee proposes a new time from the event panel, the
// organizer decides in the invitations panel.
import { useEffect, useState } from 'react';
import { api } from './api/client';
import type { EventDetail, Occurrence, Proposal } from './api/types';
import { dtf, errMessage, formatRange, useApp } from './ui';
import { addDaysDay, dateToWall, toWall, wallToDate } from './tz';

/** "Propose a new time" (attendee): a new start/end for the event, or for the opened occurrence of a
 *  series, and a comment; sent to the organizer as an iTIP COUNTER. The attendee's copy stays. */
export function ProposeTime({ occ, detail }: { occ: Occurrence; detail: EventDetail }) {
  const app = useApp();
  const { t, tz } = app;
  const allDay = occ.allDay;
  const initial = () => {
    const s = allDay ? occ.start.slice(0, 10) : toWall(occ.start, tz);
    const e = allDay ? addDaysDay(occ.end.slice(0, 10), -1) : toWall(occ.end, tz);
    return { startDay: s.slice(0, 10), startTime: s.slice(11, 16), endDay: e < s.slice(0, 10) ? s.slice(0, 10) : e.slice(0, 10), endTime: e.slice(11, 16) };
  };
  const [open, setOpen] = useState(false);
  const [f, setF] = useState(initial);
  const [comment, setComment] = useState('');
  const [sent, setSent] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const wall = (day: string, time: string) => (allDay ? day : `${day}T${time}`);
  // Moving the start keeps the length, as in the editor.
  const setStart = (day: string, time: string) => setF((x) => {
    if (!day || (!allDay && !time)) return x;
    const len = wallToDate(wall(x.endDay, x.endTime)).getTime() - wallToDate(wall(x.startDay, x.startTime)).getTime();
    const end = dateToWall(new Date(wallToDate(wall(day, time)).getTime() + Math.max(0, len)));
    return { startDay: day, startTime: time, endDay: end.slice(0, 10), endTime: allDay ? x.endTime : end.slice(11, 16) };
  });
  const send = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true); setError(''); setSent('');
    try {
      const r = await api.propose(occ.id, {
        start: wall(f.startDay, f.startTime), end: allDay ? addDaysDay(f.endDay, 1) : wall(f.endDay, f.endTime), timezone: tz,
        comment: comment.trim(), recurrenceId: occ.recurrenceId,
      });
      const org = detail.event.organizer;
      setSent(t('proposalSent', { organizer: org?.name || org?.email || r.organizer }));
      setOpen(false); setComment('');
    } catch (err) { setError(errMessage(err)); }
    setBusy(false);
  };
  return (
    <div className="propose">
      {!open && <div className="row"><button type="button" className="btn propose-open" onClick={() => { setF(initial()); setOpen(true); setSent(''); setError(''); }}>↔ {t('proposeNewTime')}</button></div>}
      {open && (
        <form className="propose-form" onSubmit={send} aria-label={t('proposeNewTime')}>
          <h3>{t('proposeNewTime')}</h3>
          <div className="when-grid">
            <label className="field">{t('start')}<input type="date" name="proposeStartDay" required value={f.startDay} onChange={(e) => setStart(e.target.value, f.startTime)} /></label>
            {!allDay && <label className="field"><span className="sr-only">{t('start')}</span><input type="time" name="proposeStartTime" aria-label={t('timeOf', { field: t('start') })} required value={f.startTime} onChange={(e) => setStart(f.startDay, e.target.value)} /></label>}
            <span aria-hidden="true" className="dash">–</span>
            <label className="field">{t('end')}<input type="date" name="proposeEndDay" required value={f.endDay} onChange={(e) => { const v = e.target.value; if (v) setF((x) => ({ ...x, endDay: v })); }} /></label>
            {!allDay && <label className="field"><span className="sr-only">{t('end')}</span><input type="time" name="proposeEndTime" aria-label={t('timeOf', { field: t('end') })} required value={f.endTime} onChange={(e) => { const v = e.target.value; if (v) setF((x) => ({ ...x, endTime: v })); }} /></label>}
          </div>
          <p className="hint">{occ.recurrenceId ? t('proposeOccurrenceHint') : t('proposeHint')}</p>
          <label className="field">{t('comment')}<input name="proposeComment" value={comment} onChange={(e) => setComment(e.target.value)} maxLength={1000} /></label>
          <div className="row end">
            <button type="button" className="btn" onClick={() => { setOpen(false); setError(''); }}>{t('cancel')}</button>
            <button type="submit" className="btn primary" disabled={busy}>{t('proposeSend')}</button>
          </div>
        </form>
      )}
      {sent && <p className="form-ok" role="status">✓ {sent}</p>}
      {error && <p className="form-error" role="alert">{error}</p>}
    </div>
  );
}

/** An iCalendar time as a COUNTER carries it ('20261129T100000Z', '2026-11-29T10:00:00Z', a wall time, or a date). */
function icalTime(v?: string): { iso: string; kind: 'utc' | 'wall' | 'date' } | undefined {
  const m = v ? /^(\d{4})-?(\d{2})-?(\d{2})(?:T(\d{2}):?(\d{2}):?(\d{2})(Z?))?$/.exec(v.trim()) : null;
  if (!m) return undefined;
  if (!m[4]) return { iso: `${m[1]}-${m[2]}-${m[3]}`, kind: 'date' };
  return { iso: `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[7] ? 'Z' : ''}`, kind: m[7] ? 'utc' : 'wall' };
}

/** The organizer's time proposals (GET /proposals): who, which event, the proposed time and comment; accept or decline. */
export function ProposalList() {
  const app = useApp();
  const { t, tz, lang } = app;
  const [items, setItems] = useState<(Proposal & { ev?: EventDetail | null })[] | null>(null);
  const [error, setError] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [comments, setComments] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState('');
  const load = async () => {
    try {
      const r = await api.proposals();
      setItems(await Promise.all(r.items.map(async (p, i) => ({ ...p, ev: p.objectId && i < 30 ? await api.event(p.objectId).catch(() => null) : null }))));
    } catch (e) { setError(errMessage(e)); }
  };
  useEffect(() => { load(); }, []);
  const decide = async (p: Proposal, what: 'accept' | 'decline') => {
    setBusy(p.id); setErrors((x) => ({ ...x, [p.id]: '' }));
    try {
      if (what === 'accept') await api.acceptProposal(p.id);
      else await api.declineProposal(p.id, comments[p.id]?.trim() || undefined);
      app.toast(t(what === 'accept' ? 'proposalAccepted' : 'proposalDeclined'));
      app.refetch();
    } catch (e) { setErrors((x) => ({ ...x, [p.id]: errMessage(e) })); }
    await load();
    setBusy('');
  };
  const range = (p: Proposal) => {
    const s = icalTime(p.details?.dtstart), e = icalTime(p.details?.dtend) ?? s;
    if (!s || !e) return '—';
    if (s.kind === 'date') return formatRange(s.iso, e.kind === 'date' ? e.iso : s.iso, true, tz, lang);
    if (s.kind === 'utc' && e.kind === 'utc') return formatRange(s.iso, e.iso, false, tz, lang);
    return formatRange(s.iso.replace(/Z?$/, 'Z'), e.iso.replace(/Z?$/, 'Z'), false, 'UTC', lang);
  };
  const occurrence = (v?: string) => {
    const r = icalTime(v);
    if (!r) return '';
    const loc = lang === 'ru' ? 'ru-RU' : 'en-GB';
    return r.kind === 'date' ? dtf(loc, { dateStyle: 'medium', timeZone: 'UTC' }).format(new Date(r.iso + 'T00:00:00Z'))
      : dtf(loc, { dateStyle: 'medium', timeStyle: 'short', timeZone: r.kind === 'utc' ? tz : 'UTC' }).format(new Date(r.kind === 'utc' ? r.iso : r.iso + 'Z'));
  };
  if (error) return <p className="form-error" role="alert">{error}</p>;
  if (!items) return <p className="muted">{t('loading')}</p>;
  if (items.length === 0) return <p className="muted">{t('noProposals')}</p>;
  return (
    <ul className="held-list proposals">{items.map((p) => {
      const d = p.details ?? {};
      const email = (d.from || p.sender || '').replace(/^mailto:/i, '');
      const who = p.ev?.event.attendees?.find((a) => a.email.toLowerCase() === email.toLowerCase())?.name || email || '?';
      const title = p.ev?.event.summary || d.summary || t('noTitle');
      return (
        <li key={p.id} className="held-item proposal" data-id={p.id}>
          <div className="held-main">
            <span className="occ-title">{title}</span>
            <span className="small">{t('proposedBy', { name: who })}{who !== email && email ? <span className="muted"> ({email})</span> : null}</span>
            <span className="small"><span className="muted">{t('proposedTime')}:</span> <span className="proposed-time">{range(p)}</span></span>
            {d.recurrenceId && <span className="small muted">{t('proposalOccurrence', { when: occurrence(d.recurrenceId) })}</span>}
            {d.comment && <q className="small proposal-comment">{d.comment}</q>}
            <label className="field">{t('declineComment')}<input value={comments[p.id] ?? ''} onChange={(e) => { const v = e.target.value; setComments((x) => ({ ...x, [p.id]: v })); }} maxLength={1000} /></label>
            {errors[p.id] && <p className="form-error" role="alert">{errors[p.id]}</p>}
          </div>
          <span className="row" role="group" aria-label={title}>
            <button type="button" className="btn small primary" disabled={busy === p.id} onClick={() => decide(p, 'accept')}>✓ {t('acceptNewTime')}</button>
            <button type="button" className="btn small" disabled={busy === p.id} onClick={() => decide(p, 'decline')}>✕ {t('declineProposal')}</button>
          </span>
        </li>
      );
    })}</ul>
  );
}
