// Russian and English strings. `t(key, vars)` with {name} placeholders; plural helper for counts.
export type Lang = 'en' | 'ru';

const en = {
  appName: 'Calendula',
  signIn: 'Sign in', signOut: 'Sign out', email: 'E-mail', password: 'Password', signInSso: 'Sign in with SSO', or: 'or',
  signInTitle: 'Sign in to your calendar', signInFailed: 'Wrong e-mail or password',
  firstRunHint: 'First run? The administrator password was printed by “calendula start”. Add people with “calendula user add”.',
  adminHint: 'You are the administrator. Add colleagues with “calendula user add e-mail” or the users API, then share calendars with them.',
  dismiss: 'Dismiss',
  today: 'Today', prev: 'Previous', next: 'Next', day: 'Day', week: 'Week', workWeek: 'Work week', month: 'Month', agenda: 'Agenda',
  myCalendars: 'My calendars', sharedCalendars: 'Shared with me', newCalendar: 'New calendar', create: 'Create', save: 'Save', cancel: 'Cancel', close: 'Close',
  delete: 'Delete', rename: 'Rename', color: 'Colour', share: 'Share', show: 'Show', hide: 'Hide', name: 'Name', edit: 'Edit', more: 'More',
  calendarActions: 'Actions for {name}', showCalendar: 'Show {name}', deleteCalendarQ: 'Delete the calendar “{name}” and all its events?',
  shareWith: 'Share “{name}”', access: 'Access', accessRead: 'See all details', accessReadWrite: 'Edit events', accessFreebusy: 'Only free/busy',
  accessOwner: 'Owner', shareAdd: 'Add', sharedWithNobody: 'Not shared with anyone yet.', stopSharing: 'Stop sharing with {name}',
  menu: 'Menu', newEvent: 'New event', search: 'Search', searchPlaceholder: 'Search events', invitations: 'Invitations', trash: 'Trash', importExport: 'Import / export', settings: 'Settings',
  loading: 'Loading…', noTitle: '(no title)', busy: 'Busy', allDay: 'All day',
  title: 'Title', start: 'Start', end: 'End', timezone: 'Time zone', location: 'Location', description: 'Description', conference: 'Video meeting link',
  calendar: 'Calendar', repeat: 'Repeat', reminders: 'Reminders', addReminder: 'Add reminder', participants: 'Participants', attachments: 'Attachments',
  showAs: 'Show me as', free: 'Free', visibility: 'Visibility', visDefault: 'Default', visPrivate: 'Private (others see only “busy”)', visConfidential: 'Confidential',
  editEvent: 'Edit event', createEvent: 'New event', details: 'Details', organizer: 'Organizer', you: 'you',
  remove: 'Remove', removeItem: 'Remove {name}', upload: 'Attach file', download: 'Download', uploading: 'Uploading {name}',
  rEmail: 'E-mail', rPopup: 'Notification', minutes: 'minutes', hours: 'hours', days: 'days', before: 'before',
  addParticipant: 'Add people, groups or rooms', addParticipantHint: 'Type a name or any e-mail address and press Enter', invalidEmail: '“{email}” is not a valid e-mail address',
  room: 'Room', group: 'Group', person: 'Person', optional: 'Optional', required: 'Required',
  ps_ACCEPTED: 'Accepted', 'ps_NEEDS-ACTION': 'No answer yet', ps_TENTATIVE: 'Maybe', ps_DECLINED: 'Declined', ps_DELEGATED: 'Delegated',
  accept: 'Accept', maybe: 'Maybe', decline: 'Decline', comment: 'Comment (optional)', yourAnswer: 'Your answer: {answer}', respondFor: 'Answer for',
  thisOccurrence: 'This occurrence', wholeSeries: 'The whole series', thisAndFollowing: 'This and following', allOccurrences: 'All occurrences',
  recurringQ: 'This is a recurring event. Change which occurrences?', deleteRecurringQ: 'Delete which occurrences?',
  notifyWarn: 'Participants will be notified of the change.', apply: 'Apply', moveEvent: 'Move event', resizeEvent: 'Change duration',
  deleted: 'Event deleted', undo: 'Undo', restored: 'Event restored', saved: 'Saved', restore: 'Restore', trashEmpty: 'Trash is empty.',
  trashHint: 'Deleted events stay here for 30 days.', deletedAt: 'Deleted {when}',
  noInvitations: 'No invitations are waiting for your answer.', invitationsWaiting: 'Invitations waiting for your answer',
  noResults: 'Nothing found.', from: 'From', to: 'To', results: 'Results',
  importTitle: 'Import an .ics file', importInto: 'Into calendar', file: 'File', importing: 'Importing…', importDone: 'Imported {imported} of {total}; {failed} failed.',
  exportTitle: 'Export a calendar', exportBtn: 'Download .ics',
  editingBy: '{name} is editing this event. You can look, but cannot save until they finish.',
  conflictTitle: 'The event was changed meanwhile', conflictBody: '{name} changed this event at {when}. Changed fields:', reload: 'Reload their version', overwrite: 'Overwrite with mine',
  conflictNotOrganizer: 'Only the organizer can overwrite. Reload to see the latest version.', unknownPerson: 'someone',
  scheduling: 'Scheduling assistant', findTime: 'Find a time', findTimeNone: 'No free slot found in the next 14 days.', suggested: 'Suggested times',
  workingHours: 'Working hours', outsideHours: 'Outside working hours', fbError: 'Free/busy unavailable',
  rNone: 'Does not repeat', rDaily: 'Daily', rWeekly: 'Weekly', rMonthly: 'Monthly', rYearly: 'Yearly', every: 'Every', onDays: 'On',
  rByDate: 'On day {day}', rByWeekday: 'On the {nth} {weekday}', ends: 'Ends', never: 'Never', onDate: 'On date', afterN: 'After', occurrences: 'occurrences',
  language: 'Language', langAuto: 'Browser language', wh: 'Working hours', whDays: 'Working days', defaultReminders: 'Default reminders (calendar “{name}”)',
  notifications: 'Notifications', nk_invitation: 'Invitations', nk_update: 'Changes', nk_cancellation: 'Cancellations', nk_reply: 'Answers to my invitations', nk_reminder: 'Reminders',
  ch_email: 'E-mail', ch_messenger: 'Messenger', messengerNotLinked: 'Messenger is not linked (send /start to the VK Teams bot to link it).',
  display: 'Display', declined: 'Declined events', declinedDim: 'Show dimmed', declinedHide: 'Hide', secondZone: 'Second time zone', none: 'None',
  appPasswords: 'App passwords (CalDAV)', appPasswordsHint: 'Calendar apps sign in with your e-mail and an app password, never your main password.',
  newAppPassword: 'New app password', appPasswordName: 'Device or app name', appPasswordShown: 'Copy this password now; it will not be shown again:',
  revoke: 'Revoke', lastUsed: 'Last used {when}', neverUsed: 'Never used', caldavUrl: 'CalDAV server address', copy: 'Copy', copied: 'Copied',
  howTo: 'How to connect',
  thunderbird: 'Thunderbird', apple: 'Apple Calendar (macOS, iPhone)', davx5: 'DAVx5 (Android)',
  tb1: 'Open the Calendar, choose “New Calendar…” → “On the Network”.', tb2: 'Enter your e-mail as the user name and the CalDAV address as the location.', tb3: 'Click “Find Calendars”, enter the app password when asked, and subscribe to the calendars you want.',
  ap1: 'macOS: Calendar → Settings → Accounts → “+” → Other CalDAV Account. iPhone: Settings → Calendar → Accounts → Add Account → Other → Add CalDAV Account.', ap2: 'Account type “Manual”; user name: your e-mail; password: the app password; server address: the CalDAV address.', ap3: 'Save; your calendars appear within a minute.',
  dx1: 'Install DAVx5 and tap “+” → “Log in with URL and user name”.', dx2: 'Base URL: the CalDAV address; user name: your e-mail; password: the app password.', dx3: 'Choose the calendars to synchronise, then open them in your calendar app.',
  saveFailed: 'Could not save: {message}', errorGeneric: 'Something went wrong: {message}', offline: 'The server is unreachable. Retrying…',
  weekNumber: 'W', showMore: '+{n} more', noEvents: 'No events in this period', miniMonth: 'Pick a date',
  attendeesCount: '{n} participants', recurringMark: 'Recurring', privateMark: 'Private', tentativeMark: 'Tentative', declinedMark: 'Declined', needsAnswer: 'Awaiting your answer',
  openEvent: 'Open event', when: 'When', joinMeeting: 'Join video meeting', copyLink: 'Copy link',
  conflictField_summary: 'Title', conflictField_start: 'Start', conflictField_end: 'End', conflictField_location: 'Location', conflictField_description: 'Description', conflictField_attendees: 'Participants', conflictField_rrule: 'Repeat', conflictField_other: 'Other details',
  duplicate: 'Duplicate', moveTo: 'Move to calendar', view: 'View',
  skipToCalendar: 'Skip to calendar',
};
export type Key = keyof typeof en;

const ru: Record<Key, string> = {
  appName: 'Calendula',
  signIn: 'Войти', signOut: 'Выйти', email: 'Эл. почта', password: 'Пароль', signInSso: 'Войти через SSO', or: 'или',
  signInTitle: 'Вход в календарь', signInFailed: 'Неверная почта или пароль',
  firstRunHint: 'Первый запуск? Пароль администратора вывела команда «calendula start». Пользователей добавляет «calendula user add».',
  adminHint: 'Вы администратор. Добавьте коллег командой «calendula user add почта» или через API пользователей и откройте им доступ к календарям.',
  dismiss: 'Скрыть',
  today: 'Сегодня', prev: 'Назад', next: 'Вперёд', day: 'День', week: 'Неделя', workWeek: 'Рабочая неделя', month: 'Месяц', agenda: 'Список',
  myCalendars: 'Мои календари', sharedCalendars: 'Доступные мне', newCalendar: 'Новый календарь', create: 'Создать', save: 'Сохранить', cancel: 'Отмена', close: 'Закрыть',
  delete: 'Удалить', rename: 'Переименовать', color: 'Цвет', share: 'Доступ', show: 'Показать', hide: 'Скрыть', name: 'Название', edit: 'Изменить', more: 'Ещё',
  calendarActions: 'Действия с «{name}»', showCalendar: 'Показывать «{name}»', deleteCalendarQ: 'Удалить календарь «{name}» со всеми событиями?',
  shareWith: 'Доступ к «{name}»', access: 'Права', accessRead: 'Видит все подробности', accessReadWrite: 'Может изменять', accessFreebusy: 'Только занятость',
  accessOwner: 'Владелец', shareAdd: 'Добавить', sharedWithNobody: 'Доступ пока никому не открыт.', stopSharing: 'Закрыть доступ для {name}',
  menu: 'Меню', newEvent: 'Новое событие', search: 'Поиск', searchPlaceholder: 'Поиск событий', invitations: 'Приглашения', trash: 'Корзина', importExport: 'Импорт и экспорт', settings: 'Настройки',
  loading: 'Загрузка…', noTitle: '(без названия)', busy: 'Занят', allDay: 'Весь день',
  title: 'Название', start: 'Начало', end: 'Конец', timezone: 'Часовой пояс', location: 'Место', description: 'Описание', conference: 'Ссылка на видеовстречу',
  calendar: 'Календарь', repeat: 'Повтор', reminders: 'Напоминания', addReminder: 'Добавить напоминание', participants: 'Участники', attachments: 'Вложения',
  showAs: 'Показывать меня как', free: 'Свободен', visibility: 'Видимость', visDefault: 'Обычная', visPrivate: 'Личное (другие видят только «занят»)', visConfidential: 'Конфиденциально',
  editEvent: 'Изменение события', createEvent: 'Новое событие', details: 'Подробности', organizer: 'Организатор', you: 'вы',
  remove: 'Убрать', removeItem: 'Убрать {name}', upload: 'Прикрепить файл', download: 'Скачать', uploading: 'Загрузка {name}',
  rEmail: 'Письмо', rPopup: 'Уведомление', minutes: 'минут', hours: 'часов', days: 'дней', before: 'до начала',
  addParticipant: 'Добавить людей, группы или переговорные', addParticipantHint: 'Введите имя или любой адрес почты и нажмите Enter', invalidEmail: '«{email}» — неверный адрес почты',
  room: 'Переговорная', group: 'Группа', person: 'Человек', optional: 'Необязательно', required: 'Обязательно',
  ps_ACCEPTED: 'Примет участие', 'ps_NEEDS-ACTION': 'Пока не ответил', ps_TENTATIVE: 'Возможно', ps_DECLINED: 'Отказался', ps_DELEGATED: 'Передал другому',
  accept: 'Принять', maybe: 'Возможно', decline: 'Отклонить', comment: 'Комментарий (необязательно)', yourAnswer: 'Ваш ответ: {answer}', respondFor: 'Ответ для',
  thisOccurrence: 'Только это событие', wholeSeries: 'Вся серия', thisAndFollowing: 'Это и последующие', allOccurrences: 'Все события серии',
  recurringQ: 'Это повторяющееся событие. Какие из повторений изменить?', deleteRecurringQ: 'Какие повторения удалить?',
  notifyWarn: 'Участники получат уведомление об изменении.', apply: 'Применить', moveEvent: 'Перенос события', resizeEvent: 'Изменение длительности',
  deleted: 'Событие удалено', undo: 'Отменить', restored: 'Событие восстановлено', saved: 'Сохранено', restore: 'Восстановить', trashEmpty: 'Корзина пуста.',
  trashHint: 'Удалённые события хранятся здесь 30 дней.', deletedAt: 'Удалено {when}',
  noInvitations: 'Нет приглашений, ждущих ответа.', invitationsWaiting: 'Приглашения, ждущие ответа',
  noResults: 'Ничего не найдено.', from: 'С', to: 'По', results: 'Результаты',
  importTitle: 'Импорт файла .ics', importInto: 'В календарь', file: 'Файл', importing: 'Импорт…', importDone: 'Импортировано {imported} из {total}; ошибок: {failed}.',
  exportTitle: 'Экспорт календаря', exportBtn: 'Скачать .ics',
  editingBy: '{name} сейчас редактирует это событие. Смотреть можно, сохранить — когда закончит.',
  conflictTitle: 'Событие изменили, пока вы редактировали', conflictBody: '{name} изменил(а) событие в {when}. Изменилось:', reload: 'Загрузить их версию', overwrite: 'Перезаписать моей',
  conflictNotOrganizer: 'Перезаписать может только организатор. Загрузите последнюю версию.', unknownPerson: 'кто-то',
  scheduling: 'Планировщик встреч', findTime: 'Найти время', findTimeNone: 'В ближайшие 14 дней нет общего свободного времени.', suggested: 'Подходящее время',
  workingHours: 'Рабочие часы', outsideHours: 'Нерабочее время', fbError: 'Занятость недоступна',
  rNone: 'Не повторяется', rDaily: 'Ежедневно', rWeekly: 'Еженедельно', rMonthly: 'Ежемесячно', rYearly: 'Ежегодно', every: 'Каждые', onDays: 'По дням',
  rByDate: '{day}-го числа', rByWeekday: 'В {nth} {weekday}', ends: 'Окончание', never: 'Никогда', onDate: 'Дата', afterN: 'После', occurrences: 'повторений',
  language: 'Язык', langAuto: 'Язык браузера', wh: 'Рабочие часы', whDays: 'Рабочие дни', defaultReminders: 'Напоминания по умолчанию (календарь «{name}»)',
  notifications: 'Уведомления', nk_invitation: 'Приглашения', nk_update: 'Изменения', nk_cancellation: 'Отмены', nk_reply: 'Ответы на мои приглашения', nk_reminder: 'Напоминания',
  ch_email: 'Почта', ch_messenger: 'Мессенджер', messengerNotLinked: 'Мессенджер не привязан (отправьте /start боту VK Teams).',
  display: 'Отображение', declined: 'Отклонённые события', declinedDim: 'Показывать бледными', declinedHide: 'Скрывать', secondZone: 'Второй часовой пояс', none: 'Нет',
  appPasswords: 'Пароли приложений (CalDAV)', appPasswordsHint: 'Календарные приложения входят с вашей почтой и паролем приложения, а не с основным паролем.',
  newAppPassword: 'Новый пароль приложения', appPasswordName: 'Устройство или приложение', appPasswordShown: 'Скопируйте пароль сейчас — больше он показан не будет:',
  revoke: 'Отозвать', lastUsed: 'Использован {when}', neverUsed: 'Не использовался', caldavUrl: 'Адрес сервера CalDAV', copy: 'Копировать', copied: 'Скопировано',
  howTo: 'Как подключить',
  thunderbird: 'Thunderbird', apple: 'Календарь Apple (macOS, iPhone)', davx5: 'DAVx5 (Android)',
  tb1: 'Откройте «Календарь», выберите «Создать календарь…» → «В сети».', tb2: 'Имя пользователя — ваша почта, адрес — адрес CalDAV.', tb3: 'Нажмите «Найти календари», введите пароль приложения и подпишитесь на нужные календари.',
  ap1: 'macOS: Календарь → Настройки → Учётные записи → «+» → Другая учётная запись CalDAV. iPhone: Настройки → Календарь → Учётные записи → Добавить → Другое → Учётная запись CalDAV.', ap2: 'Тип «Вручную»; имя — ваша почта; пароль — пароль приложения; адрес сервера — адрес CalDAV.', ap3: 'Сохраните — календари появятся в течение минуты.',
  dx1: 'Установите DAVx5, нажмите «+» → «Вход по URL и имени пользователя».', dx2: 'Базовый URL — адрес CalDAV; имя — ваша почта; пароль — пароль приложения.', dx3: 'Отметьте календари для синхронизации и откройте их в приложении календаря.',
  saveFailed: 'Не удалось сохранить: {message}', errorGeneric: 'Ошибка: {message}', offline: 'Сервер недоступен. Повторяем…',
  weekNumber: 'Н', showMore: 'ещё {n}', noEvents: 'Нет событий за этот период', miniMonth: 'Выбор даты',
  attendeesCount: 'Участников: {n}', recurringMark: 'Повторяется', privateMark: 'Личное', tentativeMark: 'Под вопросом', declinedMark: 'Отклонено', needsAnswer: 'Ждёт вашего ответа',
  openEvent: 'Открыть событие', when: 'Когда', joinMeeting: 'Подключиться к видеовстрече', copyLink: 'Копировать ссылку',
  conflictField_summary: 'Название', conflictField_start: 'Начало', conflictField_end: 'Конец', conflictField_location: 'Место', conflictField_description: 'Описание', conflictField_attendees: 'Участники', conflictField_rrule: 'Повтор', conflictField_other: 'Прочее',
  duplicate: 'Копировать', moveTo: 'Перенести в календарь', view: 'Вид',
  skipToCalendar: 'Перейти к календарю',
};

const dicts: Record<Lang, Record<Key, string>> = { en, ru };

export function detectLang(): Lang {
  const langs = navigator.languages?.length ? navigator.languages : [navigator.language];
  for (const l of langs) {
    const s = (l || '').toLowerCase();
    if (s.startsWith('ru')) return 'ru';
    if (s.startsWith('en')) return 'en';
  }
  return 'en';
}

export type T = (k: Key, vars?: Record<string, string | number>) => string;
export function translator(lang: Lang): T {
  const d = dicts[lang];
  return (k, vars) => {
    let s = d[k] ?? en[k] ?? String(k);
    if (vars) for (const [n, v] of Object.entries(vars)) s = s.split(`{${n}}`).join(String(v));
    return s;
  };
}

export const locale = (lang: Lang) => (lang === 'ru' ? 'ru-RU' : 'en-GB');
