import { useEffect, useState } from 'react';
import { api, ApiError, setCsrf } from './api/client';
import type { Me } from './api/types';
import type { Lang, T } from './i18n';

export function SignIn({ t, lang, setLang, onSignedIn }: { t: T; lang: Lang; setLang(l: Lang): void; onSignedIn(m: Me): void }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [sso, setSso] = useState<{ enabled: boolean; startUrl?: string }>({ enabled: false });
  useEffect(() => { api.sso().then(setSso).catch(() => {}); }, []);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true); setError('');
    try {
      const me = await api.signIn(email.trim(), password);
      setCsrf(me.csrfToken);
      onSignedIn(me);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? t('signInFailed') : err instanceof Error ? err.message : String(err));
    } finally { setBusy(false); }
  };
  return (
    <main className="signin">
      <form className="signin-card" onSubmit={submit} aria-labelledby="signin-title">
        <div className="brand big"><span className="logo" aria-hidden="true" />Calendula</div>
        <h1 id="signin-title">{t('signInTitle')}</h1>
        <label className="field">{t('email')}
          <input type="email" name="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} autoFocus />
        </label>
        <label className="field">{t('password')}
          <input type="password" name="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        {error && <p className="form-error" role="alert">{error}</p>}
        <button type="submit" className="btn primary full" disabled={busy}>{t('signIn')}</button>
        {sso.enabled && <>
          <div className="or"><span>{t('or')}</span></div>
          <a className="btn full" href={sso.startUrl ?? '/api/v1/auth/sso/start'}>{t('signInSso')}</a>
        </>}
        <p className="hint">{t('firstRunHint')}</p>
        <div className="lang-switch" role="group" aria-label="Language / Язык">
          <button type="button" className={`link-btn ${lang === 'en' ? 'active' : ''}`} aria-pressed={lang === 'en'} onClick={() => setLang('en')}>English</button>
          <button type="button" className={`link-btn ${lang === 'ru' ? 'active' : ''}`} aria-pressed={lang === 'ru'} onClick={() => setLang('ru')}>Русский</button>
        </div>
      </form>
    </main>
  );
}
