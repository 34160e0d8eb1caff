import { createContext, useCallback, useContext, useEffect, useId, useRef, useState, type ReactNode } from 'react';
import type { Key, Lang, T } from './i18n';
import type { Calendar, Me, Occurrence, EventDetail, Partstat } from './api/types';
import { ApiError } from './api/client';

export interface Prefs { declined: 'dim' | 'hide'; secondZone: string; langChosen: boolean }
export function loadPrefs(): Prefs {
  try { return { declined: 'dim', secondZone: '', langChosen: false, ...JSON.parse(localStorage.getItem('calendula.prefs') || '{}') }; } catch { return { declined: 'dim', secondZone: '', langChosen: false }; }
}
export function savePrefs(p: Prefs) { localStorage.setItem('calendula.prefs', JSON.stringify(p)); }

export interface EditorRequest {
  mode: 'create' | 'edit';
  start?: string; end?: string; allDay?: boolean; calendarId?: string;  // create (wall times in the user's zone)
  detail?: EventDetail; occurrence?: Occurrence;                        // edit
}

export interface AppCtx {
  t: T; lang: Lang; tz: string; me: Me; setMe(m: Me): void;
  calendars: Calendar[]; reloadCalendars(): Promise<void>;
  hiddenIds: Set<string>; setHidden(id: string, hidden: boolean): void;
  prefs: Prefs; setPrefs(p: Prefs): void;
  toast(msg: string, opts?: { action?: { label: string; run(): void }; error?: boolean }): void;
  openEvent(o: Occurrence): void;
  openEditor(r: EditorRequest): void;
  refetch(): void;
  setLang(l: Lang): void;
  gotoDate(d: string): void;
}
export const Ctx = createContext<AppCtx>(null as unknown as AppCtx);
export const useApp = () => useContext(Ctx);

export function errMessage(e: unknown): string {
  if (e instanceof ApiError) return e.message || e.code;
  return e instanceof Error ? e.message : String(e);
}

/** An accessible modal built on <dialog>: focus is trapped by the browser, Esc closes it. */
export function Modal({ title, onClose, children, wide, footer, className }: { title: ReactNode; onClose(): void; children: ReactNode; wide?: boolean; footer?: ReactNode; className?: string }) {
  const ref = useRef<HTMLDialogElement>(null);
  const id = useId();
  const { t } = useApp() ?? { t: (k: Key) => k };
  useEffect(() => {
    const d = ref.current!;
    const prev = document.activeElement as HTMLElement | null;
    if (!d.open) d.showModal();
    // autoFocus cannot work inside a dialog that was closed when React mounted it: focus the
    // marked control, else the first control of the body (not the close button in the header).
    const first = d.querySelector<HTMLElement>('[data-autofocus]')
      ?? d.querySelector<HTMLElement>('.modal-body :is(input, select, textarea, button, a[href], [tabindex="0"]):not([disabled]):not([type="hidden"])');
    if (first && !first.closest('.sr-only')) first.focus();
    return () => { prev?.focus?.(); };
  }, []);
  return (
    <dialog ref={ref} className={`modal ${wide ? 'wide' : ''} ${className ?? ''}`} aria-labelledby={id}
      onCancel={(e) => { e.preventDefault(); onClose(); }}
      onKeyDown={(e) => {
        // Keep Tab inside the dialog (a modal <dialog> alone lets it move on to the browser's UI).
        if (e.key !== 'Tab') return;
        const d = e.currentTarget as HTMLDialogElement;
        if (d.querySelector('dialog[open]')) return; // a nested dialog handles its own keys
        const els = [...d.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((el) => !el.closest('[disabled], [inert]') && (el.offsetParent !== null || el.classList.contains('sr-only')));
        if (!els.length) return;
        const first = els[0], last = els[els.length - 1];
        if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
        else if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
      }}
      onMouseDown={(e) => { if (e.target === ref.current) onClose(); }}>
      <div className="modal-head">
        <h2 id={id}>{title}</h2>
        <button type="button" className="icon-btn" onClick={onClose} aria-label={t('close')} title={t('close')}>✕</button>
      </div>
      <div className="modal-body">{children}</div>
      {footer && <div className="modal-foot">{footer}</div>}
    </dialog>
  );
}

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

export interface ToastItem { id: number; msg: string; action?: { label: string; run(): void }; error?: boolean }
export function useToasts() {
  const [items, setItems] = useState<ToastItem[]>([]);
  const seq = useRef(0);
  const push = useCallback((msg: string, opts: { action?: ToastItem['action']; error?: boolean } = {}) => {
    const id = ++seq.current;
    setItems((xs) => [...xs.slice(-3), { id, msg, ...opts }]);
    setTimeout(() => setItems((xs) => xs.filter((x) => x.id !== id)), opts.action ? 10000 : 5000);
  }, []);
  const dismiss = useCallback((id: number) => setItems((xs) => xs.filter((x) => x.id !== id)), []);
  return { items, push, dismiss };
}
export function Toasts({ items, dismiss, t }: { items: ToastItem[]; dismiss(id: number): void; t: T }) {
  return (
    <div className="toasts" role="status" aria-live="polite">
      {items.map((x) => (
        <div key={x.id} className={`toast ${x.error ? 'error' : ''}`}>
          {x.error && <span aria-hidden="true">⚠ </span>}<span>{x.msg}</span>
          {x.action && <button type="button" className="link-btn" onClick={() => { x.action!.run(); dismiss(x.id); }}>{x.action.label}</button>}
          <button type="button" className="icon-btn small" aria-label={t('dismiss')} onClick={() => dismiss(x.id)}>✕</button>
        </div>
      ))}
    </div>
  );
}

export const PARTSTAT_ICON: Record<Partstat, string> = { ACCEPTED: '✓', TENTATIVE: '?', DECLINED: '✕', 'NEEDS-ACTION': '…', DELEGATED: '→' };
export function PartstatBadge({ ps }: { ps: Partstat | undefined | null }) {
  const { t } = useApp();
  const p = (ps ?? 'NEEDS-ACTION') as Partstat;
  return <span className={`ps ps-${p.toLowerCase()}`}><span aria-hidden="true">{PARTSTAT_ICON[p]}</span> {t(`ps_${p}` as Key)}</span>;
}

const dtfCache = new Map<string, Intl.DateTimeFormat>();
/** Intl.DateTimeFormat construction is expensive (hundreds of µs); keep one per option set. */
export function dtf(loc: string, o: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const k = loc + JSON.stringify(o);
  let f = dtfCache.get(k);
  if (!f) { f = new Intl.DateTimeFormat(loc, o); dtfCache.set(k, f); }
  return f;
}

export function formatRange(startIso: string, endIso: string, allDay: boolean, tz: string, lang: Lang): string {
  const loc = lang === 'ru' ? 'ru-RU' : 'en-GB';
  if (allDay) {
    const s = new Date(startIso.slice(0, 10) + 'T00:00:00Z');
    const e = new Date(new Date(endIso.slice(0, 10) + 'T00:00:00Z').getTime() - 86400000);
    const f = dtf(loc, { weekday: 'short', day: 'numeric', month: 'long', timeZone: 'UTC' });
    return e <= s ? f.format(s) : `${f.format(s)} – ${f.format(e)}`;
  }
  const s = new Date(startIso), e = new Date(endIso);
  const day = dtf(loc, { weekday: 'short', day: 'numeric', month: 'long', timeZone: tz });
  const time = dtf(loc, { hour: '2-digit', minute: '2-digit', timeZone: tz });
  const ds = day.format(s), de = day.format(e);
  return ds === de ? `${ds}, ${time.format(s)} – ${time.format(e)}` : `${ds}, ${time.format(s)} – ${de}, ${time.format(e)}`;
}

export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => { const h = setTimeout(() => setV(value), ms); return () => clearTimeout(h); }, [value, ms]);
  return v;
}

/** WAI-ARIA tabs: one tab stop (roving tabindex), arrows / Home / End move between tabs. The
 *  panels are rendered by the caller with `tabPanelProps(id, tab)`. */
export function Tabs<K extends string>({ id, tabs, value, onChange, label }: { id: string; tabs: { key: K; label: ReactNode }[]; value: K; onChange(k: K): void; label: string }) {
  const refs = useRef<(HTMLButtonElement | null)[]>([]);
  const move = (i: number) => { const n = tabs.length; const j = (i + n) % n; onChange(tabs[j].key); refs.current[j]?.focus(); };
  return (
    <div className="tabs" role="tablist" aria-label={label}>
      {tabs.map((x, i) => (
        <button key={x.key} ref={(el) => { refs.current[i] = el; }} type="button" role="tab" id={`${id}-tab-${x.key}`} aria-controls={`${id}-panel-${x.key}`}
          aria-selected={value === x.key} tabIndex={value === x.key ? 0 : -1} className={`tab ${value === x.key ? 'active' : ''}`}
          onClick={() => onChange(x.key)}
          onKeyDown={(e) => {
            if (e.key === 'ArrowRight') { e.preventDefault(); move(i + 1); }
            else if (e.key === 'ArrowLeft') { e.preventDefault(); move(i - 1); }
            else if (e.key === 'Home') { e.preventDefault(); move(0); }
            else if (e.key === 'End') { e.preventDefault(); move(tabs.length - 1); }
          }}>{x.label}</button>
      ))}
    </div>
  );
}
export const tabPanelProps = (id: string, key: string) => ({ role: 'tabpanel', id: `${id}-panel-${key}`, 'aria-labelledby': `${id}-tab-${key}` } as const);
