import { useEffect, useState, type RefObject } from 'react';
import { api } from './api/client';
import type { Calendar, Share } from './api/types';
import type { CalendarHandle } from './CalendarView';
import { firstDayFor } from './CalendarView';
import { errMessage, Modal, useApp } from './ui';
import { addMinutesWall, dateToDay, nowWall } from './tz';

const PALETTE = ['#1a5fb4', '#26a269', '#c01c28', '#e66100', '#813d9c', '#865e3c', '#0b7a75', '#5e5c64', '#a51d2d', '#613583'];

export function Sidebar({ onNavigate, calRef, openPanel }: { onNavigate(): void; calRef: RefObject<CalendarHandle | null>; openPanel(p: 'trash' | 'invitations' | 'proposals' | 'import'): void }) {
  const app = useApp();
  const { t, calendars, hiddenIds, setHidden, tz } = app;
  const [editing, setEditing] = useState<Calendar | null>(null);
  const [creating, setCreating] = useState(false);
  const own = calendars.filter((c) => c.access === 'owner');
  const shared = calendars.filter((c) => c.access !== 'owner');
  const newEvent = () => {
    const now = nowWall(tz);
    const start = dateToDay(now) + `T${String(Math.min(22, now.getUTCHours() + 1)).padStart(2, '0')}:00:00`;
    app.openEditor({ mode: 'create', start, end: addMinutesWall(start, 60), allDay: false });
    onNavigate();
  };
  const row = (c: Calendar) => (
    <li key={c.id} className="cal-row">
      <label className="cal-check">
        <input type="checkbox" checked={!hiddenIds.has(c.id)} onChange={(e) => setHidden(c.id, !e.target.checked)} aria-label={t('showCalendar', { name: c.name })} />
        <span className="swatch" style={{ background: c.color, borderColor: c.color }} aria-hidden="true" />
        <span className="cal-name">{c.name}{c.owner && c.access !== 'owner' ? <span className="muted small"> · {c.owner.name || c.owner.email}</span> : null}</span>
        {c.access === 'freebusy' && <span className="tag">{t('busy')}</span>}
      </label>
      {c.access === 'owner' && <button type="button" className="icon-btn small" aria-label={t('calendarActions', { name: c.name })} title={t('calendarActions', { name: c.name })} onClick={() => setEditing(c)}>⋯</button>}
    </li>
  );
  return (
    <aside id="sidebar" className="sidebar" aria-label={t('myCalendars')}>
      <button type="button" className="btn primary new-event" onClick={newEvent}><span aria-hidden="true">+</span> {t('newEvent')}</button>
      <MiniMonth onPick={(d) => { calRef.current?.gotoDate(d); onNavigate(); }} />
      <section>
        <div className="side-head"><h2>{t('myCalendars')}</h2>
          <button type="button" className="icon-btn small" aria-label={t('newCalendar')} title={t('newCalendar')} onClick={() => setCreating(true)}>+</button></div>
        <ul className="cal-list">{own.map(row)}</ul>
      </section>
      {shared.length > 0 && <section><div className="side-head"><h2>{t('sharedCalendars')}</h2></div><ul className="cal-list">{shared.map(row)}</ul></section>}
      <nav className="side-links">
        <button type="button" className="link-btn" onClick={() => { openPanel('invitations'); onNavigate(); }}>✉ {t('invitations')}</button>
        <button type="button" className="link-btn" onClick={() => { openPanel('proposals'); onNavigate(); }}>↔ {t('proposals')}</button>
        <button type="button" className="link-btn" onClick={() => { openPanel('trash'); onNavigate(); }}>⌫ {t('trash')}</button>
        <button type="button" className="link-btn" onClick={() => { openPanel('import'); onNavigate(); }}>⇅ {t('importExport')}</button>
      </nav>
      {editing && <CalendarDialog cal={editing} onClose={() => setEditing(null)} />}
      {creating && <CalendarDialog onClose={() => setCreating(false)} />}
    </aside>
  );
}

function CalendarDialog({ cal, onClose }: { cal?: Calendar; onClose(): void }) {
  const app = useApp();
  const { t } = app;
  const [name, setName] = useState(cal?.name ?? '');
  const [color, setColor] = useState(cal?.color ?? PALETTE[1]);
  const [shares, setShares] = useState<Share[]>([]);
  const [email, setEmail] = useState('');
  const [access, setAccess] = useState<'read' | 'read-write' | 'freebusy'>('read');
  const [error, setError] = useState('');
  const [shareError, setShareError] = useState('');
  useEffect(() => { if (cal) api.shares(cal.id).then((r) => setShares(r.items)).catch(() => {}); }, [cal]);
  const save = async (e: React.FormEvent) => {
    e.preventDefault();
    try {
      if (cal) await api.updateCalendar(cal.id, { name, color });
      else await api.createCalendar({ name, color });
      await app.reloadCalendars();
      onClose();
    } catch (err) { setError(errMessage(err)); }
  };
  const addShare = async (e: React.FormEvent) => {
    e.preventDefault();
    setShareError('');
    try { await api.share(cal!.id, email.trim(), access); setEmail(''); setShares((await api.shares(cal!.id)).items); }
    catch (err) { setShareError(errMessage(err)); }
  };
  const remove = async () => {
    if (!cal || !confirm(t('deleteCalendarQ', { name: cal.name }))) return;
    try { await api.deleteCalendar(cal.id); await app.reloadCalendars(); app.refetch(); onClose(); } catch (err) { setError(errMessage(err)); }
  };
  const accessLabel = (a: string) => (a === 'read' ? t('accessRead') : a === 'read-write' ? t('accessReadWrite') : a === 'freebusy' ? t('accessFreebusy') : a);
  return (
    <Modal title={cal ? cal.name : t('newCalendar')} onClose={onClose}>
      <form onSubmit={save} className="stack">
        <label className="field">{t('name')}<input required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} autoFocus data-autofocus="" /></label>
        <fieldset className="colors"><legend>{t('color')}</legend>
          {PALETTE.map((c) => (
            <label key={c} className="color-opt" title={c}>
              <input type="radio" name="color" value={c} checked={color === c} onChange={() => setColor(c)} aria-label={c} />
              <span style={{ background: c }} aria-hidden="true">{color === c ? '✓' : ''}</span>
            </label>
          ))}
          <label className="color-custom">{t('more')}<input type="color" value={color} onChange={(e) => setColor(e.target.value)} /></label>
        </fieldset>
        {error && <p className="form-error" role="alert">{error}</p>}
        <div className="row end"><button type="submit" className="btn primary">{cal ? t('save') : t('create')}</button></div>
      </form>
      {cal && <>
        <h3>{t('shareWith', { name: cal.name })}</h3>
        {shares.length === 0 ? <p className="muted">{t('sharedWithNobody')}</p> : (
          <ul className="plain-list">{shares.map((s) => (
            <li key={s.granteeId} className="row between"><span>{s.name || s.email} <span className="muted small">{s.email}</span> — {accessLabel(s.access)}</span>
              <button type="button" className="icon-btn small" aria-label={t('stopSharing', { name: s.name || s.email })} onClick={async () => { await api.unshare(cal.id, s.granteeId); setShares((await api.shares(cal.id)).items); }}>✕</button></li>
          ))}</ul>
        )}
        <form onSubmit={addShare} className="row wrap share-form">
          <label className="field grow">{t('email')}<input type="email" required value={email} onChange={(e) => setEmail(e.target.value)} aria-invalid={!!shareError} aria-describedby="share-err" /></label>
          <label className="field">{t('access')}
            <select value={access} onChange={(e) => setAccess(e.target.value as typeof access)}>
              <option value="read">{t('accessRead')}</option><option value="read-write">{t('accessReadWrite')}</option><option value="freebusy">{t('accessFreebusy')}</option>
            </select></label>
          <button type="submit" className="btn">{t('shareAdd')}</button>
        </form>
        {shareError && <p id="share-err" className="form-error" role="alert">{shareError}</p>}
        <div className="row between danger-zone">
          <a className="btn" href={api.exportUrl(cal.id)} download>{t('exportBtn')}</a>
          {!cal.isDefault && <button type="button" className="btn danger" onClick={remove}>{t('delete')}</button>}
        </div>
      </>}
    </Modal>
  );
}

export function MiniMonth({ onPick }: { onPick(day: string): void }) {
  const { lang, tz, t } = useApp();
  const today = dateToDay(nowWall(tz));
  const [month, setMonth] = useState(today.slice(0, 7));
  const [range, setRange] = useState<{ start: string; end: string } | null>(null);
  useEffect(() => {
    const h = (e: Event) => { const d = (e as CustomEvent).detail; setRange(d); setMonth(d.current.slice(0, 7)); };
    window.addEventListener('calendula:range', h);
    return () => window.removeEventListener('calendula:range', h);
  }, []);
  const fd = firstDayFor(lang);
  const [y, m] = month.split('-').map(Number);
  const first = new Date(Date.UTC(y, m - 1, 1));
  const lead = (first.getUTCDay() - fd + 7) % 7;
  const days: string[] = [];
  for (let i = -lead; i < 42 - lead; i++) days.push(new Date(Date.UTC(y, m - 1, 1 + i)).toISOString().slice(0, 10));
  const loc = lang === 'ru' ? 'ru-RU' : 'en-GB';
  const label = first.toLocaleDateString(loc, { month: 'long', year: 'numeric', timeZone: 'UTC' });
  const wd = Array.from({ length: 7 }, (_, i) => new Date(Date.UTC(2024, 0, 7 + fd + i)).toLocaleDateString(loc, { weekday: 'narrow', timeZone: 'UTC' }));
  const shift = (k: number) => { const d = new Date(Date.UTC(y, m - 1 + k, 1)); setMonth(d.toISOString().slice(0, 7)); };
  return (
    <div className="mini" role="group" aria-label={t('miniMonth')}>
      <div className="mini-head">
        <button type="button" className="icon-btn small" aria-label={t('prev')} onClick={() => shift(-1)}>‹</button>
        <span className="mini-title" aria-live="polite">{label}</span>
        <button type="button" className="icon-btn small" aria-label={t('next')} onClick={() => shift(1)}>›</button>
      </div>
      <div className="mini-grid">
        {wd.map((w, i) => <span key={i} className="mini-wd" aria-hidden="true">{w}</span>)}
        {days.map((d) => {
          const inRange = range && d >= range.start && d < range.end;
          return (
            <button key={d} type="button" className={`mini-day ${d.slice(0, 7) !== month ? 'other' : ''} ${d === today ? 'today' : ''} ${inRange ? 'in-range' : ''}`}
              aria-label={new Date(d + 'T00:00:00Z').toLocaleDateString(loc, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' })}
              aria-current={d === today ? 'date' : undefined} onClick={() => onPick(d)}>{Number(d.slice(8))}</button>
          );
        })}
      </div>
    </div>
  );
}
