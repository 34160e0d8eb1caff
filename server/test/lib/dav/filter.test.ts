import { describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import ICAL from 'ical.js';
import { matchesFilter, textMatches, type CompFilter, type PropFilter, type TextMatch } from '../../../src/lib/dav/index.js';
import { alarmAtEndTodo, allDayEvent, berlinEvent, berlinZone, freebusy, todo, weeklyEvent } from './icsFixtures.js';

const tr = (start: string | null, end: string | null) => ({ start: start ? new Date(start) : null, end: end ? new Date(end) : null });
const comp = (name: string, extra: Partial<CompFilter> = {}): CompFilter => ({
  name,
  isNotDefined: false,
  timeRange: null,
  propFilters: [],
  compFilters: [],
  ...extra,
});
const cal = (...compFilters: CompFilter[]) => comp('VCALENDAR', { compFilters });
const prop = (name: string, extra: Partial<PropFilter> = {}): PropFilter => ({
  name,
  isNotDefined: false,
  timeRange: null,
  textMatch: null,
  paramFilters: [],
  ...extra,
});
const tm = (value: string, extra: Partial<TextMatch> = {}): TextMatch => ({
  value,
  collation: 'i;ascii-casemap',
  negate: false,
  matchType: 'contains',
  ...extra,
});
const eventIn = (start: string | null, end: string | null) => cal(comp('VEVENT', { timeRange: tr(start, end) }));

describe('comp-filter basics (RFC 4791 §9.7.1)', () => {
  it('matches by component presence and is-not-defined', () => {
    const c = berlinEvent();
    expect(matchesFilter(c, cal(comp('VEVENT')))).toBe(true);
    expect(matchesFilter(c, cal(comp('VTODO')))).toBe(false);
    expect(matchesFilter(c, cal(comp('VTODO', { isNotDefined: true })))).toBe(true);
    expect(matchesFilter(c, cal())).toBe(true);
    expect(matchesFilter(c, cal(comp('VEVENT', { compFilters: [comp('VALARM')] })))).toBe(true);
    expect(matchesFilter(allDayEvent(), cal(comp('VEVENT', { compFilters: [comp('VALARM')] })))).toBe(false);
  });
});

describe('VEVENT time-range (RFC 4791 §9.9)', () => {
  it('resolves an unregistered TZID from the object’s own VTIMEZONE', () => {
    const c = berlinEvent(); // 09:00–10:00Z
    expect(matchesFilter(c, eventIn('2024-01-15T09:30:00Z', '2024-01-15T09:45:00Z'))).toBe(true);
    expect(matchesFilter(c, eventIn('2024-01-15T10:00:00Z', '2024-01-15T11:00:00Z'))).toBe(false);
    expect(matchesFilter(c, eventIn('2024-01-15T08:00:00Z', '2024-01-15T09:00:00Z'))).toBe(false);
    expect(matchesFilter(c, eventIn('2024-01-15T08:00:00Z', null))).toBe(true);
    expect(matchesFilter(c, eventIn(null, '2024-01-15T09:00:01Z'))).toBe(true);
  });

  it('all-day events last one day, in the floating zone when given', () => {
    const c = allDayEvent();
    expect(matchesFilter(c, eventIn('2024-01-20T23:00:00Z', '2024-01-21T00:00:00Z'))).toBe(true);
    expect(matchesFilter(c, eventIn('2024-01-21T00:00:00Z', '2024-01-22T00:00:00Z'))).toBe(false);
    const opts = { floatingTimezone: berlinZone() };
    expect(matchesFilter(c, eventIn('2024-01-20T23:00:00Z', '2024-01-21T00:00:00Z'), opts)).toBe(false);
    expect(matchesFilter(c, eventIn('2024-01-19T23:00:00Z', '2024-01-19T23:30:00Z'), opts)).toBe(true);
  });

  it('recurring events: instances, EXDATE and moved overrides', () => {
    const c = weeklyEvent();
    const day = (d: string) => eventIn(`${d}T00:00:00Z`, `${d}T23:59:59Z`);
    expect(matchesFilter(c, day('2024-01-01'))).toBe(true);
    expect(matchesFilter(c, day('2024-01-08'))).toBe(false); // EXDATE
    expect(matchesFilter(c, day('2024-01-15'))).toBe(false); // moved away
    expect(matchesFilter(c, day('2024-01-16'))).toBe(true); // moved here
    expect(matchesFilter(c, day('2024-03-04'))).toBe(true); // 10th instance
    expect(matchesFilter(c, day('2024-03-11'))).toBe(false); // COUNT exhausted
  });

  it('uses an injected occurrencesOverlap for recurring masters', () => {
    const c = weeklyEvent();
    const spy = vi.fn(() => true);
    expect(matchesFilter(c, eventIn('2030-01-01T00:00:00Z', '2030-01-02T00:00:00Z'), { occurrencesOverlap: spy })).toBe(true);
    expect(spy).toHaveBeenCalledTimes(1);
    const [master, start, end] = spy.mock.calls[0] as unknown as [ICAL.Component, Date, Date];
    expect(master.hasProperty('rrule')).toBe(true);
    expect(start.toISOString()).toBe('2030-01-01T00:00:00.000Z');
    expect(end.toISOString()).toBe('2030-01-02T00:00:00.000Z');
  });

  it('VFREEBUSY periods', () => {
    const fb = (s: string, e: string) => cal(comp('VFREEBUSY', { timeRange: tr(s, e) }));
    expect(matchesFilter(freebusy(), fb('2024-01-10T09:30:00Z', '2024-01-10T09:40:00Z'))).toBe(true);
    expect(matchesFilter(freebusy(), fb('2024-01-15T00:00:00Z', '2024-01-16T00:00:00Z'))).toBe(false);
  });
});

describe('VTODO time-range table (RFC 4791 §9.9)', () => {
  const todoIn = (s: string | null, e: string | null) => cal(comp('VTODO', { timeRange: tr(s, e) }));
  const cases: Array<[string, string, string | null, string | null, boolean]> = [
    ['DUE only, range ends at DUE', 'DUE:20240110T120000Z', '2024-01-10T00:00:00Z', '2024-01-10T12:00:00Z', true],
    ['DUE only, range starts at DUE', 'DUE:20240110T120000Z', '2024-01-10T12:00:00Z', '2024-01-10T13:00:00Z', false],
    ['DTSTART+DURATION, range starts at end', 'DTSTART:20240110T100000Z\nDURATION:PT2H', '2024-01-10T12:00:00Z', '2024-01-10T13:00:00Z', true],
    ['DTSTART+DURATION, after', 'DTSTART:20240110T100000Z\nDURATION:PT2H', '2024-01-10T12:00:01Z', '2024-01-10T13:00:00Z', false],
    ['DTSTART+DUE, inside', 'DTSTART:20240110T100000Z\nDUE:20240112T100000Z', '2024-01-11T00:00:00Z', '2024-01-11T01:00:00Z', true],
    ['DTSTART+DUE, before', 'DTSTART:20240110T100000Z\nDUE:20240112T100000Z', '2024-01-09T00:00:00Z', '2024-01-10T10:00:00Z', false],
    ['DTSTART only, at start', 'DTSTART:20240110T100000Z', '2024-01-10T10:00:00Z', '2024-01-10T10:00:01Z', true],
    ['DTSTART only, later', 'DTSTART:20240110T100000Z', '2024-01-10T10:00:01Z', '2024-01-11T00:00:00Z', false],
    ['COMPLETED+CREATED, between', 'CREATED:20240101T000000Z\nCOMPLETED:20240105T000000Z', '2024-01-03T00:00:00Z', '2024-01-04T00:00:00Z', true],
    ['COMPLETED+CREATED, after', 'CREATED:20240101T000000Z\nCOMPLETED:20240105T000000Z', '2024-01-06T00:00:00Z', '2024-01-07T00:00:00Z', false],
    ['COMPLETED only, at', 'COMPLETED:20240105T000000Z', '2024-01-05T00:00:00Z', '2024-01-05T00:00:01Z', true],
    ['CREATED only, before', 'CREATED:20240101T000000Z', '2023-12-01T00:00:00Z', '2023-12-02T00:00:00Z', false],
    ['CREATED only, after', 'CREATED:20240101T000000Z', '2024-02-01T00:00:00Z', '2024-02-02T00:00:00Z', true],
    ['no dates at all', 'PRIORITY:1', '1999-01-01T00:00:00Z', '1999-01-02T00:00:00Z', true],
  ];
  for (const [name, props, s, e, expected] of cases) {
    it(name, () => expect(matchesFilter(todo(props), todoIn(s, e))).toBe(expected));
  }
});

describe('VALARM time-range (RFC 4791 §9.9)', () => {
  const alarmIn = (parent: string, s: string, e: string) => cal(comp(parent, { compFilters: [comp('VALARM', { timeRange: tr(s, e) })] }));
  it('relative trigger before a zoned event', () => {
    // Event 09:00Z, trigger -PT15M → 08:45Z
    expect(matchesFilter(berlinEvent(), alarmIn('VEVENT', '2024-01-15T08:45:00Z', '2024-01-15T08:46:00Z'))).toBe(true);
    expect(matchesFilter(berlinEvent(), alarmIn('VEVENT', '2024-01-15T08:46:00Z', '2024-01-15T09:30:00Z'))).toBe(false);
  });
  it('triggers of a recurring event follow its instances (not the EXDATE one)', () => {
    expect(matchesFilter(weeklyEvent(), alarmIn('VEVENT', '2024-01-22T08:45:00Z', '2024-01-22T08:55:00Z'))).toBe(true);
    expect(matchesFilter(weeklyEvent(), alarmIn('VEVENT', '2024-01-08T08:45:00Z', '2024-01-08T08:55:00Z'))).toBe(false);
  });
  it('RELATED=END on a VTODO with REPEAT', () => {
    // DUE 12:00Z, trigger -1h → 11:00, repeats 11:20, 11:40
    expect(matchesFilter(alarmAtEndTodo(), alarmIn('VTODO', '2024-01-10T11:40:00Z', '2024-01-10T11:41:00Z'))).toBe(true);
    expect(matchesFilter(alarmAtEndTodo(), alarmIn('VTODO', '2024-01-10T11:41:00Z', '2024-01-10T12:00:00Z'))).toBe(false);
  });
});

describe('prop-filter / param-filter / text-match (RFC 4791 §9.7.2–9.7.5)', () => {
  const ev = (...propFilters: PropFilter[]) => cal(comp('VEVENT', { propFilters }));
  it('property presence and is-not-defined', () => {
    expect(matchesFilter(berlinEvent(), ev(prop('ORGANIZER')))).toBe(true);
    expect(matchesFilter(berlinEvent(), ev(prop('LOCATION')))).toBe(false);
    expect(matchesFilter(berlinEvent(), ev(prop('LOCATION', { isNotDefined: true })))).toBe(true);
  });
  it('text-match and param-filter must hold on the same property instance', () => {
    const f = (email: string, partstat: string) =>
      ev(prop('ATTENDEE', { textMatch: tm(email), paramFilters: [{ name: 'PARTSTAT', isNotDefined: false, textMatch: tm(partstat) }] }));
    expect(matchesFilter(berlinEvent(), f('lisa@', 'needs-action'))).toBe(true);
    expect(matchesFilter(berlinEvent(), f('lisa@', 'ACCEPTED'))).toBe(false);
    expect(matchesFilter(berlinEvent(), f('bob@', 'ACCEPTED'))).toBe(true);
    expect(matchesFilter(berlinEvent(), ev(prop('ATTENDEE', { paramFilters: [{ name: 'RSVP', isNotDefined: true, textMatch: null }] })))).toBe(true);
    expect(matchesFilter(berlinEvent(), ev(prop('ORGANIZER', { paramFilters: [{ name: 'CN', isNotDefined: false, textMatch: null }] })))).toBe(true);
  });
  it('multi-valued CATEGORIES and negation', () => {
    expect(matchesFilter(berlinEvent(), ev(prop('CATEGORIES', { textMatch: tm('budget', { matchType: 'equals' }) })))).toBe(true);
    expect(matchesFilter(berlinEvent(), ev(prop('SUMMARY', { textMatch: tm('planning', { negate: true }) })))).toBe(false);
    expect(matchesFilter(berlinEvent(), ev(prop('SUMMARY', { textMatch: tm('cancelled', { negate: true }) })))).toBe(true);
  });
  it('property time-range on a date-time property', () => {
    expect(matchesFilter(berlinEvent(), ev(prop('DTSTAMP', { timeRange: tr('2024-01-01T00:00:00Z', '2024-01-02T00:00:00Z') })))).toBe(true);
    expect(matchesFilter(berlinEvent(), ev(prop('DTSTAMP', { timeRange: tr('2024-01-02T00:00:00Z', null) })))).toBe(false);
  });
  it('collations and match types', () => {
    expect(textMatches(tm('PLAN'), 'Planning')).toBe(true);
    expect(textMatches(tm('PLAN', { collation: 'i;octet' }), 'Planning')).toBe(false);
    expect(textMatches(tm('Plan', { collation: 'i;octet', matchType: 'starts-with' }), 'Planning')).toBe(true);
    expect(textMatches(tm('STRASSE', { collation: 'i;unicode-casemap', matchType: 'ends-with' }), 'Planning Straße')).toBe(true);
    expect(textMatches(tm('STRASSE', { collation: 'i;ascii-casemap' }), 'Planning Straße')).toBe(false);
    expect(textMatches(tm('É'), 'é')).toBe(false); // ascii-casemap folds only A–Z
    expect(textMatches(tm('É', { collation: 'i;unicode-casemap' }), 'é')).toBe(true);
    expect(textMatches(tm('planning', { matchType: 'equals' }), 'Planning')).toBe(true);
  });
});

describe('evaluation never throws', () => {
  const names = fc.constantFrom('VCALENDAR', 'VEVENT', 'VTODO', 'VALARM', 'VJOURNAL', 'VFREEBUSY', 'VTIMEZONE', 'X-FOO');
  const date = fc.option(fc.date({ min: new Date('1990-01-01Z'), max: new Date('2040-01-01Z'), noInvalidDate: true }), { nil: null });
  const range = fc.option(fc.record({ start: date, end: date }), { nil: null });
  const textMatch = fc.option(
    fc.record({
      value: fc.string({ maxLength: 5 }),
      collation: fc.constantFrom('i;ascii-casemap' as const, 'i;octet' as const, 'i;unicode-casemap' as const),
      negate: fc.boolean(),
      matchType: fc.constantFrom('equals' as const, 'contains' as const, 'starts-with' as const, 'ends-with' as const),
    }),
    { nil: null },
  );
  const propFilter = fc.record({
    name: fc.constantFrom('SUMMARY', 'DTSTART', 'ATTENDEE', 'CATEGORIES', 'RRULE', 'TRIGGER', 'X-NONE'),
    isNotDefined: fc.boolean(),
    timeRange: range,
    textMatch,
    paramFilters: fc.array(fc.record({ name: fc.constantFrom('PARTSTAT', 'TZID', 'VALUE'), isNotDefined: fc.boolean(), textMatch }), { maxLength: 2 }),
  });
  const compFilter: fc.Arbitrary<CompFilter> = fc.letrec((tie) => ({
    c: fc.record({
      name: names,
      isNotDefined: fc.boolean(),
      timeRange: range,
      propFilters: fc.array(propFilter, { maxLength: 2 }),
      compFilters: fc.oneof({ maxDepth: 3, depthIdentifier: 'cf' }, fc.constant<CompFilter[]>([]), fc.array(tie('c') as fc.Arbitrary<CompFilter>, { maxLength: 2 })),
    }),
  })).c as fc.Arbitrary<CompFilter>;
  it('for random filters over every fixture', () => {
    const cals = [berlinEvent(), weeklyEvent(), allDayEvent(), todo('DUE:20240110T120000Z'), alarmAtEndTodo(), freebusy()];
    fc.assert(
      fc.property(compFilter, (f) => {
        for (const c of cals) expect(typeof matchesFilter(c, { ...f, name: 'VCALENDAR' }, { maxInstances: 100 })).toBe('boolean');
      }),
      { numRuns: 300 },
    );
  });
});
