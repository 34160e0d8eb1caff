import { lazy, Suspense, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { api, ApiError, setApiLang, setCsrf } from './api/client';
import type { Calendar, Me, Occurrence } from './api/types';
import { detectLang, translator, type Lang } from './i18n';
import { browserZone } from './tz';
import { Ctx, loadPrefs, savePrefs, Toasts, useToasts, type AppCtx, type EditorRequest, type Prefs } from './ui';
import { SignIn } from './SignIn';
import { CalendarView, type CalendarHandle } from './CalendarView';
import { Sidebar } from './Sidebar';
import { EventView, InvitationsPanel, SearchPanel, TrashPanel, ImportExportPanel, type InvitationsTab } from './Panels';

const EventEditor = lazy(() => import('./editor/EventEditor'));
const SettingsPanel = lazy(() => import('./settings/Settings'));

type Panel = null | 'settings' | 'trash' | 'invitations' | 'proposals' | 'import' | { search: string };

export function App() {
  const [prefs, setPrefsState] = useState<Prefs>(loadPrefs);
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [lang, setLangState] = useState<Lang>(() => (prefs.langChosen && localStorage.getItem('calendula.lang') as Lang) || detectLang());
  const t = useMemo(() => translator(lang), [lang]);
  setApiLang(lang);
  useEffect(() => { document.documentElement.lang = lang; document.title = 'Calendula'; }, [lang]);

  useEffect(() => {
    api.me().then((m) => { setCsrf(m.csrfToken); setMe(m); }).catch((e) => {
      if (e instanceof ApiError && e.status === 401) setMe(null);
      else setMe(null);
    });
  }, []);
  useEffect(() => {
    if (me && prefs.langChosen && (me.settings.language === 'ru' || me.settings.language === 'en')) setLangState(me.settings.language as Lang);
  }, [me, prefs.langChosen]);

  const setLang = useCallback((l: Lang) => {
    setLangState(l);
    localStorage.setItem('calendula.lang', l);
    setPrefsState((p) => { const n = { ...p, langChosen: true }; savePrefs(n); return n; });
  }, []);

  if (me === undefined) return <div className="boot" aria-busy="true">{t('loading')}</div>;
  if (me === null) return <SignIn t={t} lang={lang} setLang={setLang} onSignedIn={setMe} />;
  return <Shell me={me} setMe={setMe} lang={lang} setLang={setLang} prefs={prefs} setPrefs={(p) => { savePrefs(p); setPrefsState(p); }} />;
}

function Shell({ me, setMe, lang, setLang, prefs, setPrefs }: { me: Me; setMe(m: Me | null): void; lang: Lang; setLang(l: Lang): void; prefs: Prefs; setPrefs(p: Prefs): void }) {
  const t = useMemo(() => translator(lang), [lang]);
  const tz = me.settings.timezone || me.user.timezone || browserZone();
  const [calendars, setCalendars] = useState<Calendar[]>([]);
  const [localHidden, setLocalHidden] = useState<Set<string>>(() => new Set(JSON.parse(localStorage.getItem('calendula.hidden') || '[]')));
  const [viewing, setViewing] = useState<Occurrence | null>(null);
  const [editor, setEditor] = useState<EditorRequest | null>(null);
  const [panel, setPanel] = useState<Panel>(null);
  const [navOpen, setNavOpen] = useState(false);
  const [invCount, setInvCount] = useState(0);
  const [search, setSearch] = useState('');
  const [adminHint, setAdminHint] = useState(() => me.user.isAdmin && !localStorage.getItem('calendula.adminHintSeen'));
  const calRef = useRef<CalendarHandle>(null);
  const toasts = useToasts();

  const reloadCalendars = useCallback(async () => {
    try { setCalendars((await api.calendars()).items); } catch (e) { toasts.push(t('errorGeneric', { message: (e as Error).message }), { error: true }); }
  }, [t, toasts.push]);
  useEffect(() => { reloadCalendars(); }, [reloadCalendars]);

  const [heldCount, setHeldCount] = useState(0);
  // Time proposals waiting for my decision as organizer (they are also among the held items, so in heldCount).
  const [propCount, setPropCount] = useState(0);
  const refreshInvitations = useCallback(() => {
    api.invitations().then((r) => setInvCount(r.items.length)).catch(() => {});
    api.intakeHeld().then((r) => setHeldCount(r.items.length)).catch(() => {});
    api.proposals().then((r) => setPropCount(r.items.length)).catch(() => {});
  }, []);
  useEffect(() => { refreshInvitations(); const h = setInterval(refreshInvitations, 60000); return () => clearInterval(h); }, [refreshInvitations]);

  const hiddenIds = useMemo(() => {
    const s = new Set<string>();
    for (const c of calendars) if (c.access === 'owner' ? c.hidden : localHidden.has(c.id)) s.add(c.id);
    return s;
  }, [calendars, localHidden]);

  const setHidden = useCallback((id: string, hidden: boolean) => {
    const cal = calendars.find((c) => c.id === id);
    if (cal?.access === 'owner') {
      setCalendars((cs) => cs.map((c) => (c.id === id ? { ...c, hidden } : c)));
      api.updateCalendar(id, { hidden }).catch((e) => toasts.push(t('errorGeneric', { message: (e as Error).message }), { error: true }));
    } else {
      setLocalHidden((s) => {
        const n = new Set(s);
        if (hidden) n.add(id); else n.delete(id);
        localStorage.setItem('calendula.hidden', JSON.stringify([...n]));
        return n;
      });
    }
  }, [calendars, t, toasts.push]);

  const refetch = useCallback(() => { calRef.current?.refetch(); refreshInvitations(); }, [refreshInvitations]);

  const ctx: AppCtx = useMemo(() => ({
    t, lang, tz, me, setMe: (m: Me) => setMe(m), calendars, reloadCalendars, hiddenIds, setHidden, prefs, setPrefs,
    toast: toasts.push, openEvent: (o: Occurrence) => setViewing(o), openEditor: (r: EditorRequest) => { setViewing(null); setEditor(r); },
    refetch, setLang, gotoDate: (d: string) => calRef.current?.gotoDate(d),
  }), [t, lang, tz, me, calendars, reloadCalendars, hiddenIds, setHidden, prefs, setPrefs, toasts.push, refetch, setLang, setMe]);

  const signOut = async () => { await api.signOut().catch(() => {}); setMe(null); };

  return (
    <Ctx.Provider value={ctx}>
      <a className="skip" href="#calendar-main">{t('skipToCalendar')}</a>
      <div className={`shell ${navOpen ? 'nav-open' : ''}`}>
        <header className="topbar">
          <button type="button" className="icon-btn nav-toggle" aria-label={t('menu')} aria-expanded={navOpen} aria-controls="sidebar" onClick={() => setNavOpen(!navOpen)}>☰</button>
          <div className="brand"><span className="logo" aria-hidden="true" /><span className="brand-name">Calendula</span></div>
          <form className="search" role="search" onSubmit={(e) => { e.preventDefault(); if (search.trim()) setPanel({ search: search.trim() }); }}>
            <label className="sr-only" htmlFor="q">{t('search')}</label>
            <input id="q" type="search" placeholder={t('searchPlaceholder')} value={search} onChange={(e) => setSearch(e.target.value)} />
          </form>
          <nav className="top-actions" aria-label={t('menu')}>
            <button type="button" className="btn ghost" onClick={() => setPanel('invitations')}>
              <span aria-hidden="true">✉</span> <span className="label">{t('invitations')}</span>{invCount + heldCount > 0 && <span className="badge" aria-label={`(${invCount + heldCount})`}>{invCount + heldCount}</span>}
            </button>
            <button type="button" className="btn ghost" onClick={() => setPanel('settings')}><span aria-hidden="true">⚙</span> <span className="label">{t('settings')}</span></button>
            <button type="button" className="btn ghost" onClick={signOut} title={me.user.email}><span className="avatar" aria-hidden="true">{(me.user.name || me.user.email).slice(0, 1).toUpperCase()}</span> <span className="label">{t('signOut')}</span></button>
          </nav>
        </header>
        <Sidebar onNavigate={() => setNavOpen(false)} calRef={calRef} openPanel={(p) => setPanel(p)} />
        <div className="scrim" onClick={() => setNavOpen(false)} aria-hidden="true" />
        <main id="calendar-main" className="main" tabIndex={-1}>
          {adminHint && <div className="banner info" role="note"><span>{t('adminHint')}</span><button type="button" className="link-btn" onClick={() => { localStorage.setItem('calendula.adminHintSeen', '1'); setAdminHint(false); }}>{t('dismiss')}</button></div>}
          <CalendarView ref={calRef} />
        </main>
      </div>
      {viewing && <EventView occ={viewing} onClose={() => setViewing(null)} />}
      {editor && <Suspense fallback={<div className="boot overlay">{t('loading')}</div>}><EventEditor req={editor} onClose={() => setEditor(null)} /></Suspense>}
      {panel === 'settings' && <Suspense fallback={<div className="boot overlay">{t('loading')}</div>}><SettingsPanel onClose={() => setPanel(null)} /></Suspense>}
      {panel === 'trash' && <TrashPanel onClose={() => setPanel(null)} />}
      {(panel === 'invitations' || panel === 'proposals') && <InvitationsPanel initialTab={panel === 'proposals' ? 'proposals' : invCount > 0 ? 'waiting' : propCount > 0 ? 'proposals' : heldCount > 0 ? 'email' : 'waiting' as InvitationsTab} onClose={() => { setPanel(null); refreshInvitations(); }} />}
      {panel === 'import' && <ImportExportPanel onClose={() => setPanel(null)} />}
      {panel && typeof panel === 'object' && <SearchPanel initial={panel.search} onClose={() => setPanel(null)} />}
      <Toasts items={toasts.items} dismiss={toasts.dismiss} t={t} />
    </Ctx.Provider>
  );
}
