import { useEffect, useMemo, useState } from 'react';
import { api } from '../api/client';
import type { AppPassword, Delivery, Reminder, Settings, VkteamsLink } from '../api/types';
import { dtf, errMessage, Modal, useApp } from '../ui';
import { allZones } from '../tz';
import type { Key, Lang } from '../i18n';

const KINDS = ['invitation', 'update', 'cancellation', 'reply', 'reminder'] as const;

export default function SettingsPanel({ onClose }: { onClose(): void }) {
  const app = useApp();
  const { t, lang, me, calendars, prefs } = app;
  const [s, setS] = useState<Settings>(me.settings);
  const [error, setError] = useState('');
  const [saved, setSaved] = useState(false);
  const zones = useMemo(() => allZones(), []);
  const defCal = calendars.find((c) => c.isDefault && c.access === 'owner');
  const [rem, setRem] = useState<Reminder[]>(defCal?.defaultReminders ?? []);
  const [uiLang, setUiLang] = useState<Lang>(lang);
  const [declined, setDeclined] = useState(prefs.declined);
  const [second, setSecond] = useState(prefs.secondZone);
  const [link, setLink] = useState<VkteamsLink | null>(null);
  useEffect(() => { api.settings().then(setS).catch(() => {}); api.vkteams().then(setLink).catch(() => {}); }, []);
  // Messenger delivery needs a linked chat (the user sent /start to the bot).
  const messengerOn = !!link?.linked;
  const unlink = async () => {
    try { setLink(await api.unlinkVkteams()); app.toast(t('msgUnlinked')); } catch (err) { setError(errMessage(err)); }
  };

  const save = async (e: React.FormEvent) => {
    e.preventDefault();
    setError(''); setSaved(false);
    try {
      const n = await api.updateSettings({ language: uiLang, timezone: s.timezone, workingHours: s.workingHours, notifications: s.notifications });
      if (defCal) await api.updateCalendar(defCal.id, { defaultReminders: rem });
      app.setMe({ ...me, settings: n, user: { ...me.user, language: n.language, timezone: n.timezone } });
      app.setPrefs({ ...prefs, declined, secondZone: second, langChosen: true });
      if (uiLang !== lang) app.setLang(uiLang);
      await app.reloadCalendars();
      setSaved(true);
      app.toast(translatorFor(uiLang, t)('saved'));
    } catch (err) { setError(errMessage(err)); }
  };
  const wh = s.workingHours;
  const loc = lang === 'ru' ? 'ru-RU' : 'en-GB';
  const dayName = (d: number) => new Date(Date.UTC(2024, 0, 7 + d)).toLocaleDateString(loc, { weekday: 'short', timeZone: 'UTC' });
  const order = lang === 'ru' ? [1, 2, 3, 4, 5, 6, 0] : [1, 2, 3, 4, 5, 6, 0];
  return (
    <Modal title={t('settings')} onClose={onClose} wide className="settings" footer={<>
      {saved && <span className="muted" role="status">{t('saved')}</span>}
      <button type="button" className="btn" onClick={onClose}>{t('close')}</button>
      <button type="submit" form="settings-form" className="btn primary">{t('save')}</button>
    </>}>
      <form id="settings-form" className="stack" onSubmit={save}>
        <div className="row wrap">
          <label className="field">{t('language')}
            <select name="language" value={uiLang} onChange={(e) => setUiLang(e.target.value as Lang)}><option value="en">English</option><option value="ru">Русский</option></select></label>
          <label className="field grow">{t('timezone')}
            <select name="timezone" value={s.timezone} onChange={(e) => setS({ ...s, timezone: e.target.value })}>{(zones.includes(s.timezone) ? zones : [s.timezone, ...zones]).map((z) => <option key={z}>{z}</option>)}</select></label>
        </div>
        <fieldset><legend>{t('wh')}</legend>
          <div className="days" role="group" aria-label={t('whDays')}>
            {order.map((d) => (
              <label key={d} className={`day-chip ${wh.days.includes(d) ? 'on' : ''}`}>
                <input type="checkbox" className="sr-only" checked={wh.days.includes(d)} onChange={(e) => setS({ ...s, workingHours: { ...wh, days: e.target.checked ? [...wh.days, d].sort() : wh.days.filter((x) => x !== d) } })} />{dayName(d)}
              </label>
            ))}
          </div>
          <div className="row">
            <label className="field">{t('from')}<input type="time" value={wh.start} onChange={(e) => setS({ ...s, workingHours: { ...wh, start: e.target.value } })} /></label>
            <label className="field">{t('to')}<input type="time" value={wh.end} onChange={(e) => setS({ ...s, workingHours: { ...wh, end: e.target.value } })} /></label>
          </div>
        </fieldset>
        {defCal && <fieldset><legend>{t('defaultReminders', { name: defCal.name })}</legend>
          {rem.map((r, i) => (
            <div className="row" key={i}>
              <input type="number" min={0} max={40320} aria-label={`${t('reminderN', { n: i + 1 })} (${t('minutes')})`} value={r.minutesBefore} onChange={(e) => setRem(rem.map((x, j) => (j === i ? { ...x, minutesBefore: Number(e.target.value) } : x)))} />
              <span>{t('minutes')} {t('before')}</span>
              <select aria-label={t('reminderHow', { n: i + 1 })} value={r.action} onChange={(e) => setRem(rem.map((x, j) => (j === i ? { ...x, action: e.target.value as Reminder['action'] } : x)))}><option value="DISPLAY">{t('rPopup')}</option><option value="EMAIL">{t('rEmail')}</option></select>
              <button type="button" className="icon-btn small" aria-label={t('removeItem', { name: t('reminderN', { n: i + 1 }) })} onClick={() => setRem(rem.filter((_, j) => j !== i))}>✕</button>
            </div>
          ))}
          <button type="button" className="link-btn" onClick={() => setRem([...rem, { minutesBefore: 15, action: 'DISPLAY' }])}>＋ {t('addReminder')}</button>
        </fieldset>}
        <fieldset><legend>{t('notifications')}</legend>
          <table className="notify-table">
            <thead><tr><th scope="col"><span className="sr-only">{t('notifications')}</span></th><th scope="col">{t('ch_email')}</th><th scope="col">{t('ch_messenger')}</th></tr></thead>
            <tbody>{KINDS.map((k) => (
              <tr key={k}><th scope="row">{t(`nk_${k}` as Key)}</th>
                {(['email', 'messenger'] as const).map((ch) => (
                  <td key={ch}><input type="checkbox" aria-label={`${t(`nk_${k}` as Key)}: ${t(`ch_${ch}` as Key)}`} checked={(ch !== 'messenger' || messengerOn) && (s.notifications[k] ?? []).includes(ch)} disabled={ch === 'messenger' && !messengerOn}
                    onChange={(e) => { const cur = s.notifications[k] ?? []; setS({ ...s, notifications: { ...s.notifications, [k]: e.target.checked ? [...cur, ch] : cur.filter((x) => x !== ch) } }); }} /></td>
                ))}</tr>
            ))}</tbody>
          </table>
          <div className="link-state" role="status" aria-live="polite">
            {!link ? null : !link.botEnabled ? <p className="hint">{t('msgBotOff')}</p> : link.linked ? <>
              <p className="hint"><span aria-hidden="true">✓ </span>{t('msgLinked', { id: link.vkteamsId })}{link.linkedAt ? ' ' + t('msgLinkedSince', { when: dtf(loc, { dateStyle: 'medium', timeStyle: 'short', timeZone: app.tz }).format(new Date(link.linkedAt)) }) : ''}</p>
              <button type="button" className="btn small" onClick={unlink}>{t('msgUnlink')}</button>
            </> : <p className="hint">{t('messengerNotLinked')} {t('msgHowLink', { id: link.vkteamsId })}</p>}
          </div>
        </fieldset>
        <fieldset><legend>{t('display')}</legend>
          <div className="row wrap">
            <label className="field">{t('declined')}<select value={declined} onChange={(e) => setDeclined(e.target.value as 'dim' | 'hide')}><option value="dim">{t('declinedDim')}</option><option value="hide">{t('declinedHide')}</option></select></label>
            <label className="field grow">{t('secondZone')}<select value={second} onChange={(e) => setSecond(e.target.value)}><option value="">{t('none')}</option>{zones.map((z) => <option key={z}>{z}</option>)}</select></label>
          </div>
        </fieldset>
        {error && <p className="form-error" role="alert">{error}</p>}
      </form>
      <AppPasswords />
      <DeliveryLog />
    </Modal>
  );
}

function translatorFor(_l: Lang, t: (k: Key) => string) { return t; }

function AppPasswords() {
  const { t, lang, me, tz } = useApp();
  const [items, setItems] = useState<AppPassword[]>([]);
  const [name, setName] = useState('');
  const [fresh, setFresh] = useState<AppPassword | null>(null);
  const [error, setError] = useState('');
  const [copied, setCopied] = useState('');
  const load = () => api.appPasswords().then((r) => setItems(r.items.filter((x) => !x.revokedAt))).catch((e) => setError(errMessage(e)));
  useEffect(() => { load(); }, []);
  const davUrl = `${location.origin}/dav/`;
  const copy = (v: string) => { navigator.clipboard?.writeText(v).then(() => { setCopied(v); setTimeout(() => setCopied(''), 2000); }).catch(() => {}); };
  const loc = lang === 'ru' ? 'ru-RU' : 'en-GB';
  return (
    <section className="app-passwords" aria-labelledby="ap-h">
      <h3 id="ap-h">{t('appPasswords')}</h3>
      <p className="hint">{t('appPasswordsHint')}</p>
      <div className="row wrap">
        <label className="field grow">{t('caldavUrl')}<input readOnly value={davUrl} onFocus={(e) => e.target.select()} /></label>
        <button type="button" className="btn" onClick={() => copy(davUrl)}>{copied === davUrl ? t('copied') : t('copy')}</button>
      </div>
      <p className="muted small">{t('email')}: <strong>{me.user.email}</strong></p>
      <ul className="plain-list">{items.map((p) => (
        <li key={p.id} className="row between"><span>{p.name} <span className="muted small">{p.lastUsedAt ? t('lastUsed', { when: new Date(p.lastUsedAt).toLocaleString(loc, { dateStyle: 'medium', timeStyle: 'short', timeZone: tz }) }) : t('neverUsed')}</span></span>
          <button type="button" className="btn small danger" onClick={async () => { await api.revokeAppPassword(p.id); load(); }}>{t('revoke')}</button></li>
      ))}</ul>
      <form className="row wrap" onSubmit={async (e) => { e.preventDefault(); setError(''); try { setFresh(await api.createAppPassword(name.trim())); setName(''); load(); } catch (err) { setError(errMessage(err)); } }}>
        <label className="field grow">{t('appPasswordName')}<input required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} placeholder="Thunderbird" /></label>
        <button type="submit" className="btn">{t('newAppPassword')}</button>
      </form>
      {fresh?.password && <div className="banner info" role="status"><span>{t('appPasswordShown')} <code className="secret">{fresh.password}</code></span> <button type="button" className="btn small" onClick={() => copy(fresh.password!)}>{copied === fresh.password ? t('copied') : t('copy')}</button></div>}
      {error && <p className="form-error" role="alert">{error}</p>}
      <h4>{t('howTo')}</h4>
      <details><summary>{t('thunderbird')}</summary><ol><li>{t('tb1')}</li><li>{t('tb2')}</li><li>{t('tb3')}</li></ol></details>
      <details><summary>{t('apple')}</summary><ol><li>{t('ap1')}</li><li>{t('ap2')}</li><li>{t('ap3')}</li></ol></details>
      <details><summary>{t('davx5')}</summary><ol><li>{t('dx1')}</li><li>{t('dx2')}</li><li>{t('dx3')}</li></ol></details>
    </section>
  );
}

/** My delivery log (GET /deliveries), loaded when the section is opened. */
function DeliveryLog() {
  const { t, lang, tz } = useApp();
  const [items, setItems] = useState<Delivery[] | null>(null);
  const [error, setError] = useState('');
  const loc = lang === 'ru' ? 'ru-RU' : 'en-GB';
  const channel = (c: string) => (c === 'vkteams' || c === 'messenger' || c === 'bot' ? t('ch_messenger') : c === 'email' || c === 'imip' || c === 'mail' ? t('ch_email') : c);
  const status = (x: string) => { const k = `st_${x}` as Key; const v = t(k); return v === k ? x : v; };
  return (
    <details className="delivery-log" onToggle={(e) => { if ((e.target as HTMLDetailsElement).open && !items) api.deliveries(50).then((r) => setItems(r.items)).catch((err) => setError(errMessage(err))); }}>
      <summary><h3 className="inline-h">{t('deliveryLog')}</h3></summary>
      <p className="hint">{t('deliveryHint')}</p>
      {error && <p className="form-error" role="alert">{error}</p>}
      {!items ? (!error && <p className="muted">{t('loading')}</p>) : items.length === 0 ? <p className="muted">{t('noDeliveries')}</p> : (
        <table className="log-table">
          <thead><tr><th scope="col">{t('dlWhen')}</th><th scope="col">{t('dlTo')}</th><th scope="col">{t('dlChannel')}</th><th scope="col">{t('dlWhat')}</th><th scope="col">{t('dlStatus')}</th></tr></thead>
          <tbody>{items.map((d) => (
            <tr key={d.id}>
              <td className="nowrap">{dtf(loc, { dateStyle: 'short', timeStyle: 'short', timeZone: tz }).format(new Date(d.createdAt))}</td>
              <td className="break">{d.recipient}</td>
              <td>{channel(d.channel)}</td>
              <td>{d.method ?? d.kind}</td>
              <td><span className={`outcome ${d.status === 'failed' || d.status === 'bounced' ? 'o-rejected' : d.status === 'sent' || d.status === 'delivered' ? 'o-applied' : 'o-ignored'}`}>{status(d.status)}</span>{d.attempts > 1 ? <span className="muted small"> · {t('dlAttempts', { n: d.attempts })}</span> : null}{d.response && d.status !== 'sent' ? <div className="muted small break">{d.response}</div> : null}</td>
            </tr>
          ))}</tbody>
        </table>
      )}
    </details>
  );
}
