/**
 * Error texts people read, in Russian and English. A DomainError's own message is the English
 * text (specific to the throw site); for Russian each stable code has a template that uses the
 * facts the error carries in `details` (an address, who holds the lease, who changed the event)
 * so the Russian text says as much as the English one where it matters.
 *
 * Pure: transports pick the language (REST from Accept-Language, the bot and e-mail from the
 * user's settings) and call `errorText`.
 */
import type { ErrorCode } from './errors.js';

export type Lang = 'en' | 'ru';

type Details = Record<string, unknown> | undefined;
type Template = (d: Details) => string;

const str = (d: Details, k: string): string | undefined => {
  const v = d?.[k];
  return typeof v === 'string' && v ? v : typeof v === 'number' ? String(v) : undefined;
};

/** The reasons of UNDELIVERABLE_ADDRESS the built-in checks give (app/events/address-checks.ts). */
const RU_REASONS: Record<string, string> = {
  'the domain does not exist': 'такого домена нет',
  'the domain has no mail server': 'у домена нет почтового сервера',
  'the domain accepts no mail': 'домен не принимает почту',
};

const RU: Record<ErrorCode | 'INTERNAL_ERROR', Template> = {
  INTERNAL_ERROR: (d) => `Внутренняя ошибка сервера${str(d, 'requestId') ? `; идентификатор запроса ${str(d, 'requestId')}` : ''}`,
  VALIDATION_FAILED: (d) => (str(d, 'rule') === 'room-only' ? 'Вместимость и правило бронирования есть только у переговорных' : str(d, 'field') ? `Неизвестное поле «${str(d, 'field')}» в запросе` : 'Запрос заполнен неверно'),
  BAD_REQUEST: () => 'Некорректный запрос',
  UNAUTHENTICATED: () => 'Нужно войти в систему',
  INVALID_CREDENTIALS: () => 'Неверный адрес или пароль',
  ACCOUNT_DISABLED: () => 'Учётная запись отключена',
  SIGNIN_LOCKED: (d) => (str(d, 'retryAfterSeconds') ? `Слишком много неудачных попыток входа. Повторите через ${str(d, 'retryAfterSeconds')} с.` : 'Слишком много неудачных попыток входа. Повторите позже.'),
  CSRF_FAILED: () => 'Запрос отклонён: обновите страницу и повторите',
  FORBIDDEN: (d) => (str(d, 'reason') === 'attendee-copy' ? 'На приглашение отвечают без блокировки редактирования; заблокировать можно только событие организатора' : 'У вас нет доступа к этому ресурсу'),
  INSUFFICIENT_SCOPE: () => 'Токену не хватает прав для этого действия',
  NOT_FOUND: () => 'Не найдено',
  ALREADY_EXISTS: () => 'Такой объект уже существует',
  CONFLICT: () => 'Конфликт с текущим состоянием данных; обновите и повторите',
  ETAG_MISMATCH: (d) => {
    const who = str(d, 'changedBy');
    const at = str(d, 'changedAt');
    if (who && at) return `${who} изменил(а) это событие ${at}; обновите его перед сохранением`;
    return 'Событие изменилось с момента загрузки; обновите его перед сохранением';
  },
  LEASE_HELD: (d) => (str(d, 'holderName') ? `${str(d, 'holderName')} сейчас редактирует это событие` : 'Событие сейчас редактирует другой пользователь'),
  FORCE_NOT_ALLOWED: (d) => (str(d, 'role') === 'attendee'
    ? 'Перезаписать чужую правку может только организатор; вы можете ответить на приглашение или изменить свои напоминания'
    : 'Перезаписать чужую правку может только организатор'),
  UID_CONFLICT: (d) => (str(d, 'uid') ? `Событие с UID ${str(d, 'uid')} уже есть в этом календаре` : 'Такое событие уже есть в этом календаре'),
  STALE_PROPOSAL: () => 'Предложение сделано для прежней версии события и устарело; измените событие вручную или попросите предложить время заново',
  INVALID_ICALENDAR: () => 'Данные iCalendar повреждены или не поддерживаются',
  UNKNOWN_ADDRESS: (d) => (str(d, 'email') ? `Нет пользователя, группы или переговорной с адресом ${str(d, 'email')}` : 'Неизвестный адрес'),
  UNDELIVERABLE_ADDRESS: (d) => {
    const reason = RU_REASONS[str(d, 'reason') ?? ''] ?? 'адрес отклонён проверкой адресов';
    return str(d, 'email') ? `Письмо на адрес ${str(d, 'email')} не может быть доставлено: ${reason}` : `Письмо не может быть доставлено: ${reason}`;
  },
  INVALID_ADDRESS: (d) => (str(d, 'email') ? `«${str(d, 'email')}» — некорректный адрес электронной почты` : 'Некорректный адрес электронной почты'),
  QUOTA_EXCEEDED: () => 'Квота на вложения исчерпана; удалите старые вложения',
  TOO_LARGE: () => 'Слишком большой размер данных',
  STORAGE_UNAVAILABLE: () => 'Хранилище файлов сейчас недоступно; повторите позже',
  LINK_INVALID: () => 'Ссылка недействительна или срок её действия истёк',
  ATTACHMENT_FORBIDDEN: () => 'В событие можно добавить только свои вложения или те, что в нём уже были',
  UNSUPPORTED: () => 'Этот тип данных не поддерживается',
  SSO_NOT_CONFIGURED: () => 'Единый вход (SSO) не настроен',
  SSO_FAILED: () => 'Не удалось войти через единый вход (SSO)',
  INVALID_SYNC_TOKEN: () => 'Токен синхронизации недействителен; выполните полную синхронизацию',
  RATE_LIMITED: () => 'Слишком много запросов; повторите позже',
};

/** The text for `code` in `lang`; English is the throw site's own message. */
export function errorText(code: string, englishMessage: string, details: Details, lang: Lang): string {
  if (lang !== 'ru') return englishMessage;
  const t = RU[code as ErrorCode | 'INTERNAL_ERROR'];
  return t ? t(details) : englishMessage;
}

/** The preferred language of an Accept-Language header (RFC 9110 §12.5.4), among those we have. */
export function langFromAcceptLanguage(header: string | undefined): Lang {
  if (!header) return 'en';
  let best: { lang: Lang; q: number } | null = null;
  for (const part of header.split(',')) {
    const [tag, ...params] = part.trim().split(';');
    const base = tag.trim().toLowerCase().split('-')[0];
    if (base !== 'ru' && base !== 'en') continue;
    const qp = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qp ? Number(qp.slice(2)) : 1;
    if (!Number.isFinite(q) || q <= 0) continue;
    if (!best || q > best.q) best = { lang: base, q };
  }
  return best?.lang ?? 'en';
}
