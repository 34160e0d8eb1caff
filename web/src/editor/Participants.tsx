import { useEffect, useId, useRef, useState } from 'react';
import { api } from '../api/client';
import type { Attendee, DirectoryEntry, FreeBusyItem, Slot } from '../api/types';
import { errMessage, PartstatBadge, useApp, useDebounced } from '../ui';
import { fromWall, toWall } from '../tz';

export const EMAIL_RE = /^[^\s@<>(),;:"]+@[^\s@<>(),;:"]+\.[^\s@<>(),;:"]+$/;

export function Participants({ attendees, setAttendees, errors, organizerEmail }: { attendees: Attendee[]; setAttendees(a: Attendee[]): void; errors: Record<string, string>; organizerEmail: string }) {
  const { t } = useApp();
  const [q, setQ] = useState('');
  const [items, setItems] = useState<DirectoryEntry[]>([]);
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(-1);
  const [inputError, setInputError] = useState('');
  const dq = useDebounced(q.trim(), 150);
  const listId = useId();
  const inputRef = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (!dq) { setItems([]); return; }
    const ac = new AbortController();
    api.directory(dq, ac.signal).then((r) => { setItems(r.items.filter((i) => !attendees.some((a) => a.email.toLowerCase() === i.email.toLowerCase()))); setActive(-1); setOpen(true); }).catch(() => {});
    return () => ac.abort();
  }, [dq]);
  const add = (a: Attendee) => {
    if (attendees.some((x) => x.email.toLowerCase() === a.email.toLowerCase()) || a.email.toLowerCase() === organizerEmail.toLowerCase()) { setQ(''); return; }
    setAttendees([...attendees, { role: 'REQ-PARTICIPANT', partstat: 'NEEDS-ACTION', ...a }]);
    setQ(''); setItems([]); setOpen(false); setInputError('');
    inputRef.current?.focus();
  };
  const fromEntry = (e: DirectoryEntry): Attendee => ({ email: e.email, name: e.name, cutype: e.kind === 'room' ? 'ROOM' : e.kind === 'group' ? 'GROUP' : 'INDIVIDUAL', ...(e.kind === 'room' ? { role: 'NON-PARTICIPANT' as const } : {}) });
  const commitTyped = () => {
    const v = q.trim().replace(/^.*<([^>]+)>\s*$/, '$1');
    if (!v) return;
    if (active >= 0 && items[active]) { add(fromEntry(items[active])); return; }
    if (items.length >= 1 && (!EMAIL_RE.test(v) || items[0].email.toLowerCase() === v.toLowerCase())) { add(fromEntry(items[0])); return; }
    if (!EMAIL_RE.test(v)) { setInputError(t('invalidEmail', { email: v })); return; }
    add({ email: v });
  };
  const kindLabel = (k: string | undefined) => (k === 'ROOM' || k === 'room' ? t('room') : k === 'GROUP' || k === 'group' ? t('group') : t('person'));
  return (
    <div className="participants">
      <div className="combo">
        <label className="field">{t('addParticipant')}
          <input ref={inputRef} role="combobox" aria-expanded={open && items.length > 0} aria-controls={listId} aria-autocomplete="list"
            aria-activedescendant={active >= 0 ? `${listId}-${active}` : undefined} aria-describedby={`${listId}-hint ${listId}-err`} aria-invalid={!!inputError}
            value={q} onChange={(e) => { setQ(e.target.value); setInputError(''); }}
            onKeyDown={(e) => {
              if (e.key === 'ArrowDown') { e.preventDefault(); setOpen(true); setActive((i) => Math.min(items.length - 1, i + 1)); }
              else if (e.key === 'ArrowUp') { e.preventDefault(); setActive((i) => Math.max(-1, i - 1)); }
              else if (e.key === 'Enter' || e.key === ',' || e.key === ';') { e.preventDefault(); commitTyped(); }
              else if (e.key === 'Escape' && open) { e.preventDefault(); e.stopPropagation(); setOpen(false); }
            }}
            onBlur={() => setTimeout(() => setOpen(false), 150)} placeholder="name@example.com" />
        </label>
        <span id={`${listId}-hint`} className="hint">{t('addParticipantHint')}</span>
        {open && items.length > 0 && (
          <ul id={listId} role="listbox" className="combo-list">
            {items.map((e, i) => (
              <li key={e.id} id={`${listId}-${i}`} role="option" aria-selected={i === active} className={i === active ? 'active' : ''}
                onMouseDown={(ev) => { ev.preventDefault(); add(fromEntry(e)); }}>
                <span className="kind-icon" aria-hidden="true">{e.kind === 'room' ? '▣' : e.kind === 'group' ? '⚇' : '☺'}</span>
                <span>{e.name || e.email}</span> <span className="muted small">{e.email}</span> <span className="tag">{kindLabel(e.kind)}{e.capacity ? ` · ${e.capacity}` : ''}</span>
              </li>
            ))}
          </ul>
        )}
        <span id={`${listId}-err`} className="form-error" role="alert">{inputError}</span>
      </div>
      <ul className="people editable">
        {attendees.map((a, idx) => (
          <li key={a.email} data-email={a.email} className={errors[a.email.toLowerCase()] ? 'has-error' : ''}>
            <span className="kind-icon" aria-hidden="true">{a.cutype === 'ROOM' ? '▣' : a.cutype === 'GROUP' ? '⚇' : '☺'}</span>
            <span className="person-name">{a.name || a.email}{a.name && <span className="muted small"> {a.email}</span>}</span>
            <span className="tag">{kindLabel(a.cutype)}</span>
            <PartstatBadge ps={a.partstat} />
            {a.cutype !== 'ROOM' && (
              <label className="small"><input type="checkbox" aria-label={`${t('optional')}: ${a.name || a.email}`} checked={a.role === 'OPT-PARTICIPANT'} onChange={(e) => setAttendees(attendees.map((x, i) => (i === idx ? { ...x, role: e.target.checked ? 'OPT-PARTICIPANT' : 'REQ-PARTICIPANT' } : x)))} /> {t('optional')}</label>
            )}
            <button type="button" className="icon-btn small" aria-label={t('removeItem', { name: a.name || a.email })} onClick={() => setAttendees(attendees.filter((_, i) => i !== idx))}>✕</button>
            {errors[a.email.toLowerCase()] && <span className="form-error block" role="alert">{errors[a.email.toLowerCase()]}</span>}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** Free/busy grid for the chosen day (in the user's zone) and "find a time". */
export function SchedulingAssistant({ attendees, meEmail, day, start, end, durationMinutes, onPick }: {
  attendees: Attendee[]; meEmail: string; day: string; start: number; end: number; durationMinutes: number; onPick(s: Slot): void;
}) {
  const { t, tz, lang } = useApp();
  const [rows, setRows] = useState<FreeBusyItem[] | null>(null);
  const [error, setError] = useState('');
  const [slots, setSlots] = useState<Slot[] | null>(null);
  const [finding, setFinding] = useState(false);
  const emails = [...new Set([meEmail, ...attendees.map((a) => a.email)].map((e) => e.toLowerCase()))];
  const key = emails.join(',') + day;
  const dayStart = fromWall(day, tz).getTime();
  const dayEnd = fromWall(day + 'T23:59:59', tz).getTime() + 1000;
  useEffect(() => {
    setError('');
    const h = setTimeout(() => {
      api.freebusy(emails, new Date(dayStart).toISOString(), new Date(dayEnd).toISOString()).then((r) => setRows(r.items)).catch((e) => setError(errMessage(e)));
    }, 200);
    return () => clearTimeout(h);
  }, [key, tz]);
  const span = dayEnd - dayStart;
  const pct = (ms: number) => `${Math.max(0, Math.min(100, ((ms - dayStart) / span) * 100))}%`;
  const width = (a: number, b: number) => `${Math.max(0.3, ((Math.min(b, dayEnd) - Math.max(a, dayStart)) / span) * 100)}%`;
  const hours = Array.from({ length: 24 }, (_, h) => h);
  const find = async () => {
    setFinding(true); setError('');
    try {
      const from = Math.max(Date.now(), dayStart);
      const rooms = attendees.filter((a) => a.cutype === 'ROOM').map((a) => a.email);
      const people = [...new Set([meEmail, ...attendees.filter((a) => a.cutype !== 'ROOM' && a.role !== 'OPT-PARTICIPANT').map((a) => a.email)].map((e) => e.toLowerCase()))];
      const r = await api.findTime({ attendees: people, rooms, durationMinutes, from: new Date(from).toISOString(), to: new Date(from + 14 * 86400000).toISOString(), count: 5 });
      setSlots(r.slots);
    } catch (e) { setError(errMessage(e)); }
    setFinding(false);
  };
  const loc = lang === 'ru' ? 'ru-RU' : 'en-GB';
  const fmtSlot = (s: Slot) => new Date(s.start).toLocaleString(loc, { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', timeZone: tz }) + ' – ' + new Date(s.end).toLocaleTimeString(loc, { hour: '2-digit', minute: '2-digit', timeZone: tz });
  const whBand = (r: FreeBusyItem) => {
    const w = r.workingHours;
    if (!w) return null;
    const zone = r.timezone || tz;
    const localDay = toWall(dayStart + 12 * 3600000, zone).slice(0, 10);
    const dow = new Date(localDay + 'T00:00:00Z').getUTCDay();
    if (!w.days.includes(dow)) return null;
    const a = fromWall(`${localDay}T${w.start}:00`, zone).getTime(), b = fromWall(`${localDay}T${w.end}:00`, zone).getTime();
    return <span className="fb-wh" style={{ left: pct(a), width: width(a, b) }} title={t('workingHours')} />;
  };
  return (
    <div className="sched">
      <div className="fb-grid" role="table" aria-label={t('scheduling')}>
        <div className="fb-row fb-head" role="row">
          <span className="fb-name" role="columnheader" />
          <span className="fb-track" role="columnheader">{hours.map((h) => <span key={h} className="fb-hour" style={{ left: `${(h / 24) * 100}%` }}>{String(h).padStart(2, '0')}</span>)}</span>
        </div>
        {(rows ?? emails.map((e) => ({ email: e, timezone: tz, workingHours: null, busy: [] } as FreeBusyItem))).map((r) => {
          const a = attendees.find((x) => x.email.toLowerCase() === r.email.toLowerCase());
          const label = r.email.toLowerCase() === meEmail.toLowerCase() ? `${r.name || r.email} (${t('you')})` : a?.name || r.name || r.email;
          return (
            <div className="fb-row" role="row" key={r.email}>
              <span className="fb-name" role="rowheader" title={r.email}>{a?.cutype === 'ROOM' ? '▣ ' : ''}{label}</span>
              <span className="fb-track" role="cell">
                <span className="fb-off" />
                {whBand(r)}
                {r.error ? <span className="fb-error">{t('fbError')}</span> : r.busy.map((b, i) => {
                  const s = Date.parse(b.start), e = Date.parse(b.end);
                  const lbl = `${t('busy')} ${new Date(s).toLocaleTimeString(loc, { hour: '2-digit', minute: '2-digit', timeZone: tz })}–${new Date(e).toLocaleTimeString(loc, { hour: '2-digit', minute: '2-digit', timeZone: tz })}${b.type === 'BUSY-TENTATIVE' ? ' (?)' : ''}`;
                  return <span key={i} className={`fb-busy ${b.type === 'BUSY-TENTATIVE' ? 'tentative' : ''}`} style={{ left: pct(s), width: width(s, e) }} title={lbl}><span className="sr-only">{lbl}</span></span>;
                })}
                <span className="fb-sel" style={{ left: pct(start), width: width(start, end) }} />
              </span>
            </div>
          );
        })}
      </div>
      <div className="row wrap sched-actions">
        <button type="button" className="btn" onClick={find} disabled={finding}>{t('findTime')}</button>
        <span className="legend"><span className="fb-busy-key" aria-hidden="true" /> {t('busy')} <span className="fb-off-key" aria-hidden="true" /> {t('outsideHours')}</span>
      </div>
      {slots && (slots.length === 0 ? <p className="muted">{t('findTimeNone')}</p> : (
        <div role="group" aria-label={t('suggested')} className="slots">
          {slots.map((s) => <button type="button" key={s.start} className="btn small slot" onClick={() => onPick(s)}>{fmtSlot(s)}</button>)}
        </div>
      ))}
      {error && <p className="form-error" role="alert">{error}</p>}
    </div>
  );
}
