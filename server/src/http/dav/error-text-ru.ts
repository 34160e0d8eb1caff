/**
 * Russian descriptions of the CalDAV handlers' own errors (DavHttpError). The English text is the
 * throw site's message; the Russian one is looked up by it (exact texts, then the few patterns
 * with a variable part). An unknown text stays English. Domain errors use domain/error-text.ts.
 */
const EXACT: Record<string, string> = {
  'This calendar is shared with you through a group; ask its owner to remove the share': 'Этот календарь доступен вам через группу; попросите владельца убрать доступ',
  'Calendars have no entity tag': 'У календарей нет тега сущности (ETag)',
  'No such resource': 'Ресурс не найден',
  'This collection cannot be deleted': 'Эту коллекцию нельзя удалить',
  'Only calendars can be renamed': 'Переименовывать можно только календари',
  'The destination is on another server': 'Место назначения находится на другом сервере',
  'Source and destination are the same resource': 'Источник и место назначения совпадают',
  'The destination exists and Overwrite is F': 'Место назначения уже существует, а перезапись запрещена (Overwrite: F)',
  'The destination collection does not exist': 'Коллекция назначения не существует',
  'Objects move or copy only between calendars of the same owner': 'Перемещать и копировать события можно только между календарями одного владельца',
  'The resource changed (If-Match)': 'Ресурс изменился с момента загрузки (If-Match); обновите его перед сохранением',
  'The resource does not exist (If-Match)': 'Ресурс не существует (If-Match)',
  'The resource already exists (If-None-Match)': 'Ресурс уже существует (If-None-Match)',
  'The scheduling state changed (If-Schedule-Tag-Match)': 'Состояние приглашения изменилось (If-Schedule-Tag-Match); обновите событие',
  'Scheduling messages arrive by implicit scheduling; PUT into the inbox is not allowed': 'Приглашения доставляются автоматически; записывать во входящие (PUT) нельзя',
  'The parent collection does not exist': 'Родительская коллекция не существует',
  'PUT is not allowed on a collection': 'PUT в коллекцию не допускается',
  'POST goes to the schedule outbox': 'POST отправляется в исходящие планирования (schedule outbox)',
  'Only VFREEBUSY requests are accepted; invitations are sent when the event is saved (implicit scheduling)': 'Принимаются только запросы занятости (VFREEBUSY); приглашения отправляются при сохранении события',
  'ORGANIZER must be your own address': 'ORGANIZER должен быть вашим собственным адресом',
  'VFREEBUSY needs DTSTART and DTEND': 'В запросе VFREEBUSY нужны DTSTART и DTEND',
  'The free-busy range must be positive and at most 400 days': 'Период занятости должен быть положительным и не длиннее 400 дней',
  'VFREEBUSY needs at least one ATTENDEE': 'В запросе VFREEBUSY нужен хотя бы один ATTENDEE',
  'MKCOL bodies are XML (RFC 5689)': 'Тело запроса MKCOL должно быть XML (RFC 5689)',
  'REPORT needs a body': 'У запроса REPORT должно быть тело',
  'This property cannot be removed': 'Это свойство нельзя удалить',
  'Only calendar properties can be changed': 'Изменять можно только свойства календаря',
  'calendar-query runs on calendar collections': 'calendar-query выполняется только для календарей',
  'calendar-multiget runs on calendar collections': 'calendar-multiget выполняется только для календарей',
  'sync-collection runs on calendar collections': 'sync-collection выполняется только для календарей',
  'free-busy-query runs on calendar collections': 'free-busy-query выполняется только для календарей',
  'Badly percent-encoded URL': 'Неверное %-кодирование в адресе',
  'Not a CalDAV path': 'Это не адрес CalDAV',
  'No such principal resource': 'Нет такого ресурса пользователя',
  'No such principal': 'Нет такого пользователя',
  'No such calendar home': 'Нет такой папки календарей',
  'Sign in again': 'Войдите снова',
  'This account cannot use CalDAV': 'Эта учётная запись не может пользоваться CalDAV',
  'The request body is larger than this server accepts': 'Тело запроса больше, чем принимает этот сервер',
  'The resource is larger than this server accepts': 'Ресурс больше, чем принимает этот сервер',
};

const PATTERNS: [RegExp, (m: RegExpExecArray) => string][] = [
  [/^(\S+) is not supported$/, (m) => `Метод ${m[1]} не поддерживается`],
  [/^(\S+) of collections is not supported$/, (m) => `${m[1]} для коллекций не поддерживается`],
  [/^You lack the (.+) privilege here$/, (m) => `Здесь у вас нет права ${m[1]}`],
  [/^Not iCalendar: (.*)$/s, (m) => `Это не iCalendar: ${m[1]}`],
];

export function davTextRu(english: string): string {
  const exact = EXACT[english];
  if (exact) return exact;
  for (const [re, f] of PATTERNS) {
    const m = re.exec(english);
    if (m) return f(m);
  }
  return english;
}
