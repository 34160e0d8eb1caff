import { useEffect, useRef, useState } from 'react';
import { api, ApiError } from './api/client';
import type { EventDetail, ImportStatus, IntakeDecision, Occurrence, Partstat, TrashItem } from './api/types';
import { dtf, errMessage, formatRange, Modal, PartstatBadge, Tabs, tabPanelProps, useApp, type AppCtx } from './ui';
import { ScopeDialog } from './CalendarView';
import { fromRRule, summarize } from './recurrence';
import { toWall } from './tz';
import { EN_KEYS, type Key } from './i18n';
import { ProposalList, ProposeTime } from './Proposals';

/** Delete with an Undo toast. A whole event goes to the trash (undo = restore); a part of a series is undone by putting the old rule back. */
export async function deleteWithUndo(app: AppCtx, occ: Pick<Occurrence, 'id' | 'recurrenceId' | 'recurring'>, scope: 'this' | 'following' | 'all') {
  // "This" or "this and following" rewrites the series (and drops the overrides after the split):
  // the undo puts the whole text read before back.
  const before = occ.recurring && scope !== 'all' ? await api.eventText(occ.id) : null;
  try {
    await api.deleteEvent(occ.id, occ.recurring ? scope : undefined, occ.recurring && scope !== 'all' ? occ.recurrenceId : undefined);
  } catch (e) {
    app.toast(t2(app, 'errorGeneric', errMessage(e)), { error: true });
    return;
  }
  app.refetch();
  app.toast(app.t('deleted'), {
    action: {
      label: app.t('undo'),
      run: async () => {
        try {
          if (before) await api.replaceEventText(occ.id, before);
          else await api.restore(occ.id);
          app.toast(app.t('restored'));
        } catch (e) { app.toast(t2(app, 'errorGeneric', errMessage(e)), { error: true }); }
        app.refetch();
      },
    },
  });
}
const t2 = (app: AppCtx, k: Key, message: string) => app.t(k, { message });

export function EventView({ occ, onClose }: { occ: Occurrence; onClose(): void }) {
  const app = useApp();
  const { t, tz, lang, calendars } = app;
  const [detail, setDetail] = useState<EventDetail | null>(null);
  const [error, setError] = useState('');
  const [comment, setComment] = useState('');
  const [rsvpScope, setRsvpScope] = useState<'this' | 'all'>('all');
  const [askDelete, setAskDelete] = useState(false);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (occ.busyOnly) return;
    api.event(occ.id).then(setDetail).catch((e) => setError(errMessage(e)));
  }, [occ]);
  const cal = calendars.find((c) => c.id === occ.calendarId);
  const ev = detail?.event;
  const respond = async (ps: Partstat) => {
    setBusy(true);
    try {
      const d = await api.respond(occ.id, ps, comment, occ.recurring && rsvpScope === 'this' ? occ.recurrenceId : undefined);
      setDetail(d);
      app.toast(t('yourAnswer', { answer: t(`ps_${ps}` as Key) }));
      app.refetch();
    } catch (e) { setError(errMessage(e)); }
    setBusy(false);
  };
  const doDelete = async (scope: 'this' | 'following' | 'all') => { setAskDelete(false); onClose(); await deleteWithUndo(app, occ, scope); };
  const myPs = detail?.myPartstat ?? occ.myPartstat;
  const isInvitee = !!myPs && !(detail?.isOrganizer ?? occ.isOrganizer);
  const title = occ.busyOnly ? t('busy') : (ev?.summary ?? occ.summary) || t('noTitle');
  return (
    <Modal title={<span className="ev-title-text">{title}</span>} onClose={onClose} className="event-view" footer={!occ.busyOnly && (
      <>
        {occ.editable && <button type="button" className="btn danger" onClick={() => (occ.recurring ? setAskDelete(true) : doDelete('all'))}>{t('delete')}</button>}
        {detail && <button type="button" className="btn" onClick={async () => { try { await api.duplicate(occ.id); app.refetch(); app.toast(t('saved')); onClose(); } catch (e) { setError(errMessage(e)); } }}>{t('duplicate')}</button>}
        {occ.editable && detail && <button type="button" className="btn primary" onClick={() => app.openEditor({ mode: 'edit', detail, occurrence: occ })}>{t('edit')}</button>}
      </>
    )}>
      <dl className="ev-facts">
        <dt>{t('when')}</dt><dd>{formatRange(occ.start, occ.end, occ.allDay, tz, lang)}{occ.recurring && ev?.rrule ? <div className="muted">↻ {summarize(fromRRule(ev.rrule, toWall(occ.start, tz).slice(0, 10)), toWall(occ.start, tz).slice(0, 10), lang)}</div> : null}</dd>
        {cal && <><dt>{t('calendar')}</dt><dd><span className="swatch" style={{ background: cal.color }} aria-hidden="true" /> {cal.name}</dd></>}
        {(ev?.location || occ.location) && <><dt>{t('location')}</dt><dd>{ev?.location ?? occ.location}</dd></>}
        {ev?.conference && <><dt>{t('conference')}</dt><dd><a href={safeUrl(ev.conference)} target="_blank" rel="noopener noreferrer">{t('joinMeeting')}</a></dd></>}
        {ev?.organizer && <><dt>{t('organizer')}</dt><dd>{ev.organizer.name || ev.organizer.email}</dd></>}
      </dl>
      {ev?.description && <div className="ev-desc">{ev.description}</div>}
      {ev?.attendees && ev.attendees.length > 0 && <>
        <h3>{t('participants')}</h3>
        <ul className="people">{ev.attendees.map((a) => (
          <li key={a.email} data-email={a.email}><span className="person-name">{a.name || a.email}</span>{a.cutype === 'ROOM' && <span className="tag">{t('room')}</span>} <PartstatBadge ps={a.partstat} /></li>
        ))}</ul>
      </>}
      {ev?.attachments && ev.attachments.length > 0 && <>
        <h3>{t('attachments')}</h3>
        <ul className="plain-list">{ev.attachments.map((a) => <li key={a.id}><a href={a.url || api.attachmentUrl(a.id)} download={a.filename}>⎘ {a.filename}</a> <span className="muted small">{fmtSize(a.size)}</span></li>)}</ul>
      </>}
      {isInvitee && detail && (
        <section className="rsvp" aria-label={t('respondFor')}>
          <p><PartstatBadge ps={myPs} /></p>
          {occ.recurring && (
            <fieldset className="radios inline"><legend>{t('respondFor')}</legend>
              <label><input type="radio" name="rsvp-scope" checked={rsvpScope === 'this'} onChange={() => setRsvpScope('this')} /> {t('thisOccurrence')}</label>
              <label><input type="radio" name="rsvp-scope" checked={rsvpScope === 'all'} onChange={() => setRsvpScope('all')} /> {t('wholeSeries')}</label>
            </fieldset>
          )}
          <label className="field">{t('comment')}<input value={comment} onChange={(e) => setComment(e.target.value)} maxLength={500} /></label>
          <div className="row">
            <button type="button" className="btn rsvp-accept" disabled={busy} aria-pressed={myPs === 'ACCEPTED'} onClick={() => respond('ACCEPTED')}>✓ {t('accept')}</button>
            <button type="button" className="btn rsvp-maybe" disabled={busy} aria-pressed={myPs === 'TENTATIVE'} onClick={() => respond('TENTATIVE')}>? {t('maybe')}</button>
            <button type="button" className="btn rsvp-decline" disabled={busy} aria-pressed={myPs === 'DECLINED'} onClick={() => respond('DECLINED')}>✕ {t('decline')}</button>
          </div>
          <ProposeTime occ={occ} detail={detail} />
        </section>
      )}
      {!detail && !error && !occ.busyOnly && <p className="muted">{t('loading')}</p>}
      {error && <p className="form-error" role="alert">{error}</p>}
      {askDelete && <ScopeDialog title={t('delete')} recurring question={t('deleteRecurringQ')} warn={occ.isOrganizer && occ.attendeeCount > 0} onCancel={() => setAskDelete(false)} onChoose={doDelete} />}
    </Modal>
  );
}


export function safeUrl(u: string): string { return /^(https?:|mailto:|tel:)/i.test(u.trim()) ? u.trim() : '#'; }
export function fmtSize(n: number) { return n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1048576).toFixed(1)} MB`; }

function OccList({ items, after }: { items: Occurrence[]; after?(o: Occurrence): React.ReactNode }) {
  const app = useApp();
  return (
    <ul className="occ-list">{items.map((o) => (
      <li key={`${o.id}|${o.recurrenceId ?? ''}`}>
        <button type="button" className="occ-open" onClick={() => { app.gotoDate(toWall(o.start, app.tz)); app.openEvent(o); }}>
          <span className="swatch" style={{ background: o.color || app.calendars.find((c) => c.id === o.calendarId)?.color }} aria-hidden="true" />
          <span className="occ-title">{o.busyOnly ? app.t('busy') : o.summary || app.t('noTitle')}</span>
          <span className="muted small">{formatRange(o.start, o.end, o.allDay, app.tz, app.lang)}</span>
        </button>
        {after?.(o)}
      </li>
    ))}</ul>
  );
}

export type InvitationsTab = 'waiting' | 'proposals' | 'email';
export function InvitationsPanel({ onClose, initialTab = 'waiting' }: { onClose(): void; initialTab?: InvitationsTab }) {
  const app = useApp();
  const { t } = app;
  const [tab, setTab] = useState<InvitationsTab>(initialTab);
  const [items, setItems] = useState<Occurrence[] | null>(null);
  const [error, setError] = useState('');
  const load = () => api.invitations().then((r) => setItems(r.items)).catch((e) => setError(errMessage(e)));
  useEffect(() => { load(); }, []);
  const quick = async (o: Occurrence, ps: Partstat) => {
    try { await api.respond(o.id, ps); app.toast(t('yourAnswer', { answer: t(`ps_${ps}` as Key) })); app.refetch(); load(); } catch (e) { setError(errMessage(e)); }
  };
  const name = (o: Occurrence) => (o.busyOnly ? t('busy') : o.summary || t('noTitle'));
  return (
    <Modal title={t('invitations')} onClose={onClose} wide className="invitations">
      <Tabs<InvitationsTab> id="inv" label={t('invitations')} value={tab} onChange={setTab} tabs={[{ key: 'waiting', label: t('invTabWaiting') }, { key: 'proposals', label: t('proposals') }, { key: 'email', label: t('invTabEmail') }]} />
      {tab === 'waiting' && <div {...tabPanelProps('inv', 'waiting')}>
        <h3 className="sr-only">{t('invitationsWaiting')}</h3>
        {error && <p className="form-error" role="alert">{error}</p>}
        {!items ? <p className="muted">{t('loading')}</p> : items.length === 0 ? <p className="muted">{t('noInvitations')}</p> : (
          <OccList items={items} after={(o) => (
            <span className="row" role="group" aria-label={name(o)}>
              <button type="button" className="btn small" onClick={() => quick(o, 'ACCEPTED')}>✓ {t('accept')}</button>
              <button type="button" className="btn small" onClick={() => quick(o, 'TENTATIVE')}>? {t('maybe')}</button>
              <button type="button" className="btn small" onClick={() => quick(o, 'DECLINED')}>✕ {t('decline')}</button>
            </span>
          )} />
        )}
      </div>}
      {tab === 'proposals' && <div {...tabPanelProps('inv', 'proposals')}><h3 className="sr-only">{t('proposals')}</h3><ProposalList /></div>}
      {tab === 'email' && <div {...tabPanelProps('inv', 'email')}><FromEmail /></div>}
    </Modal>
  );
}

/** The summary and start of a held message's calendar text (unfolded; first VEVENT). */
export function icalGist(ical: string | null | undefined): { summary?: string; start?: string } {
  if (!ical) return {};
  const text = ical.replace(/\r?\n[ \t]/g, '');
  const body = text.slice(Math.max(0, text.indexOf('BEGIN:VEVENT')));
  const prop = (name: string) => new RegExp(`^${name}(;[^:\\r\\n]*)?:(.*)$`, 'm').exec(body);
  const sum = prop('SUMMARY')?.[2]?.replace(/\\([,;\\])/g, '$1').replace(/\\n/gi, ' ').trim();
  const ds = prop('DTSTART');
  let start: string | undefined;
  if (ds) {
    const m = /^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z?))?/.exec(ds[2].trim());
    if (m) start = m[4] ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[7] ? 'Z' : ''}` : `${m[1]}-${m[2]}-${m[3]}`;
  }
  return { summary: sum || undefined, start };
}

function FromEmail() {
  const app = useApp();
  const { t, tz, lang } = app;
  const [held, setHeld] = useState<(IntakeDecision & { gist?: { summary?: string; start?: string } })[] | null>(null);
  const [log, setLog] = useState<IntakeDecision[] | null>(null);
  const [limit, setLimit] = useState(30);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState('');
  const loc = lang === 'ru' ? 'ru-RU' : 'en-GB';
  const load = async () => {
    try {
      const [h, d] = await Promise.all([api.intakeHeld(), api.intakeDecisions(limit)]);
      setLog(d.items);
      const withGist = await Promise.all(h.items.slice(0, 20).map(async (x) => ({ ...x, gist: icalGist((await api.intakeDecision(x.id).catch(() => null))?.ical) })));
      setHeld([...withGist, ...h.items.slice(20)]);
    } catch (e) { setError(errMessage(e)); }
  };
  useEffect(() => { load(); }, [limit]);
  const act = async (d: IntakeDecision, what: 'accept' | 'discard') => {
    setBusy(d.id); setError('');
    try {
      await (what === 'accept' ? api.acceptHeld(d.id) : api.discardHeld(d.id));
      app.toast(t(what === 'accept' ? 'heldAccepted' : 'heldDiscarded'));
      if (what === 'accept') app.refetch();
      await load();
    } catch (e) { setError(errMessage(e)); }
    setBusy('');
  };
  const when = (iso: string) => dtf(loc, { dateStyle: 'medium', timeStyle: 'short', timeZone: tz }).format(new Date(iso));
  const startText = (s?: string) => !s ? '' : s.length === 10 ? dtf(loc, { dateStyle: 'full', timeZone: 'UTC' }).format(new Date(s + 'T00:00:00Z'))
    : s.endsWith('Z') ? when(s) : s.replace('T', ' ').slice(0, 16);
  const method = (m: string | null) => t((m && `m_${m.toUpperCase()}` in EN_KEYS ? `m_${m.toUpperCase()}` : 'm_unknown') as Key);
  const reasonText = (d: IntakeDecision) => (`ic_${d.code}` in EN_KEYS ? t(`ic_${d.code}` as Key) : d.reason);
  return (
    <>
      {error && <p className="form-error" role="alert">{error}</p>}
      <section aria-labelledby="held-h" className="held">
        <h3 id="held-h">{t('heldTitle')}</h3>
        <p className="hint">{t('heldHint')}</p>
        {!held ? <p className="muted">{t('loading')}</p> : held.length === 0 ? <p className="muted">{t('noHeld')}</p> : (
          <ul className="held-list">{held.map((d) => {
            const title = d.gist?.summary || method(d.method);
            return (
              <li key={d.id} className="held-item" data-uid={d.uid ?? ''}>
                <div className="held-main">
                  <span className="occ-title">{title}</span>
                  {d.gist?.start && <span className="muted small">{startText(d.gist.start)}</span>}
                  <span className="small">{t('fromSender', { sender: d.sender ?? '?' })}{d.recipient ? ` ${t('toRecipient', { recipient: d.recipient })}` : ''} · {when(d.createdAt)}</span>
                  <span className="small reason"><span className="tag">{t(`o_${d.outcome}` as Key)}</span> {reasonText(d)}</span>
                </div>
                <span className="row" role="group" aria-label={title}>
                  <button type="button" className="btn small primary" disabled={busy === d.id} onClick={() => act(d, 'accept')}>✓ {d.outcome === 'counter' ? t('acceptNewTime') : t('accept')}</button>
                  <button type="button" className="btn small" disabled={busy === d.id} onClick={() => act(d, 'discard')}>✕ {d.outcome === 'counter' ? t('declineProposal') : t('discard')}</button>
                </span>
              </li>
            );
          })}</ul>
        )}
      </section>
      <section aria-labelledby="log-h" className="decision-log">
        <h3 id="log-h">{t('decisionLog')}</h3>
        <p className="hint">{t('decisionLogHint')}</p>
        {!log ? <p className="muted">{t('loading')}</p> : log.length === 0 ? <p className="muted">{t('noDecisions')}</p> : (
          <table className="log-table">
            <thead><tr><th scope="col">{t('dlWhen')}</th><th scope="col">{t('dlWhat')}</th><th scope="col">{t('from')}</th><th scope="col">{t('dlStatus')}</th><th scope="col">{t('reason')}</th></tr></thead>
            <tbody>{log.map((d) => (
              <tr key={d.id} data-outcome={d.outcome}>
                <td className="nowrap">{when(d.createdAt)}</td>
                <td>{method(d.method)}</td>
                <td className="break">{d.sender ?? '—'}</td>
                <td><span className={`outcome o-${d.outcome}`}><span aria-hidden="true">{OUTCOME_ICON[d.outcome] ?? '•'} </span>{t(`o_${d.outcome}` as Key)}</span></td>
                <td>{reasonText(d)} <code className="muted small">{d.code}</code></td>
              </tr>
            ))}</tbody>
          </table>
        )}
        {log && log.length >= limit && limit < 500 && <button type="button" className="link-btn" onClick={() => setLimit(Math.min(500, limit * 3))}>{t('showMoreDecisions')}</button>}
      </section>
    </>
  );
}
const OUTCOME_ICON: Record<string, string> = { applied: '✓', accepted: '✓', ignored: '–', rejected: '✕', discarded: '✕', held: '⏸', counter: '↔', bounce: '⚠' };

export function SearchPanel({ initial, onClose }: { initial: string; onClose(): void }) {
  const { t } = useApp();
  const [q, setQ] = useState(initial);
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [items, setItems] = useState<Occurrence[] | null>(null);
  const [error, setError] = useState('');
  const run = async (e?: React.FormEvent) => {
    e?.preventDefault();
    setError('');
    try { setItems((await api.search(q, from ? new Date(from).toISOString() : undefined, to ? new Date(to + 'T23:59:59').toISOString() : undefined)).items); }
    catch (err) { setError(errMessage(err)); }
  };
  useEffect(() => { run(); }, []);
  return (
    <Modal title={t('search')} onClose={onClose} wide>
      <form className="row wrap" onSubmit={run} role="search">
        <label className="field grow">{t('search')}<input type="search" value={q} onChange={(e) => setQ(e.target.value)} autoFocus data-autofocus="" /></label>
        <label className="field">{t('from')}<input type="date" value={from} onChange={(e) => setFrom(e.target.value)} /></label>
        <label className="field">{t('to')}<input type="date" value={to} onChange={(e) => setTo(e.target.value)} /></label>
        <button type="submit" className="btn primary">{t('search')}</button>
      </form>
      {error && <p className="form-error" role="alert">{error}</p>}
      <h3 className="sr-only">{t('results')}</h3>
      {items && (items.length === 0 ? <p className="muted">{t('noResults')}</p> : <OccList items={items} />)}
    </Modal>
  );
}

export function TrashPanel({ onClose }: { onClose(): void }) {
  const app = useApp();
  const { t, lang } = app;
  const [items, setItems] = useState<TrashItem[] | null>(null);
  const [error, setError] = useState('');
  const load = () => api.trash().then((r) => setItems(r.items)).catch((e) => setError(errMessage(e)));
  useEffect(() => { load(); }, []);
  const loc = lang === 'ru' ? 'ru-RU' : 'en-GB';
  return (
    <Modal title={t('trash')} onClose={onClose} wide>
      <p className="muted">{t('trashHint')}</p>
      {error && <p className="form-error" role="alert">{error}</p>}
      {!items ? <p className="muted">{t('loading')}</p> : items.length === 0 ? <p className="muted">{t('trashEmpty')}</p> : (
        <ul className="occ-list">{items.map((x) => (
          <li key={x.id}>
            <span className="occ-title">{x.summary || t('noTitle')}</span>
            <span className="muted small">{new Date(x.start).toLocaleString(loc, { dateStyle: 'medium', timeStyle: 'short', timeZone: app.tz })} · {t('deletedAt', { when: new Date(x.deletedAt).toLocaleString(loc, { dateStyle: 'short', timeStyle: 'short', timeZone: app.tz }) })}</span>
            <button type="button" className="btn small" onClick={async () => { try { await api.restore(x.id); app.toast(t('restored')); app.refetch(); load(); } catch (e) { setError(errMessage(e)); } }}>{t('restore')}</button>
          </li>
        ))}</ul>
      )}
    </Modal>
  );
}

export function ImportExportPanel({ onClose }: { onClose(): void }) {
  const app = useApp();
  const { t, calendars } = app;
  const writable = calendars.filter((c) => c.access === 'owner' || c.access === 'read-write');
  const [calId, setCalId] = useState(writable.find((c) => c.isDefault)?.id ?? writable[0]?.id ?? '');
  const [expId, setExpId] = useState(calId);
  const [file, setFile] = useState<File | null>(null);
  const [status, setStatus] = useState<ImportStatus | null>(null);
  const [error, setError] = useState('');
  const timer = useRef<ReturnType<typeof setTimeout>>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  const start = async (e: React.FormEvent) => {
    e.preventDefault();
    if (!file) return;
    setError(''); setStatus({ state: 'queued', total: 0, done: 0, imported: 0, failed: 0, errors: [] });
    try {
      const { importId } = await api.importIcs(calId, await file.text());
      const poll = async () => {
        try {
          const s = await api.importStatus(importId);
          setStatus(s);
          if (s.state === 'done' || s.state === 'failed' || s.state === 'completed') { app.refetch(); return; }
        } catch (err) { if (!(err instanceof ApiError && err.status === 404)) { setError(errMessage(err)); return; } }
        timer.current = setTimeout(poll, 400);
      };
      poll();
    } catch (err) { setError(errMessage(err)); setStatus(null); }
  };
  const finished = status && ['done', 'failed', 'completed'].includes(status.state);
  return (
    <Modal title={t('importExport')} onClose={onClose} wide>
      <form className="stack" onSubmit={start}>
        <h3>{t('importTitle')}</h3>
        <label className="field">{t('file')}<input type="file" accept=".ics,text/calendar" onChange={(e) => setFile(e.target.files?.[0] ?? null)} /></label>
        <label className="field">{t('importInto')}
          <select value={calId} onChange={(e) => setCalId(e.target.value)}>{writable.map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}</select></label>
        <div className="row end"><button type="submit" className="btn primary" disabled={!file || (!!status && !finished)}>{t('importTitle')}</button></div>
        {status && (
          <div className="import-status">
            <progress max={Math.max(1, status.total)} value={status.done} aria-label={t('importing')} />
            <p role="status">{finished ? t('importDone', { imported: status.imported, total: status.total, failed: status.failed }) : `${t('importing')} ${status.done}/${status.total || '…'}`}</p>
            {status.errors.length > 0 && <ul className="errors">{status.errors.slice(0, 20).map((x, i) => <li key={i}>{x.uid ? `${x.uid}: ` : ''}{x.message}</li>)}</ul>}
          </div>
        )}
        {error && <p className="form-error" role="alert">{error}</p>}
      </form>
      <h3>{t('exportTitle')}</h3>
      <div className="row wrap">
        <label className="field grow">{t('calendar')}
          <select value={expId} onChange={(e) => setExpId(e.target.value)}>{calendars.filter((c) => c.access !== 'freebusy').map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}</select></label>
        <a className="btn" href={api.exportUrl(expId)} download>{t('exportBtn')}</a>
      </div>
    </Modal>
  );
}
