import { describe, expect, it } from 'vitest';
import {
  DavParseError,
  etagMatches,
  parseDepth,
  parseDestination,
  parseIfMatch,
  parseIfNoneMatch,
  parseIfScheduleTagMatch,
  parseOverwrite,
  parsePrefer,
  parseUtcDateTime,
} from '../../../src/lib/dav/index.js';

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return e instanceof DavParseError ? e.code : 'OTHER';
  }
  return 'NONE';
};

describe('headers', () => {
  it('Depth', () => {
    expect(parseDepth(undefined, 'infinity')).toBe('infinity');
    expect(parseDepth('1', '0')).toBe('1');
    expect(parseDepth('Infinity', '0')).toBe('infinity');
    expect(code(() => parseDepth('2', '0'))).toBe('INVALID_HEADER');
  });

  it('If-Match / If-None-Match / If-Schedule-Tag-Match', () => {
    expect(parseIfMatch(undefined)).toBeNull();
    expect(parseIfNoneMatch('*')).toEqual({ any: true });
    expect(parseIfMatch('"abc", W/"def"')).toEqual({ any: false, tags: [{ weak: false, tag: 'abc' }, { weak: true, tag: 'def' }] });
    expect(parseIfScheduleTagMatch('"st-1"')).toEqual({ any: false, tags: [{ weak: false, tag: 'st-1' }] });
    expect(code(() => parseIfMatch('abc'))).toBe('INVALID_HEADER');
    const cond = parseIfMatch('"abc", W/"def"')!;
    expect(etagMatches(cond, '"abc"', true)).toBe(true);
    expect(etagMatches(cond, '"def"', true)).toBe(false); // weak never matches strongly
    expect(etagMatches(cond, '"def"', false)).toBe(true);
    expect(etagMatches({ any: true }, null, true)).toBe(false);
  });

  it('Destination and Overwrite', () => {
    expect(parseDestination('https://cal.example.com:8443/dav/calendars/anna/work/Caf%C3%A9.ics')).toEqual({
      path: '/dav/calendars/anna/work/Café.ics',
      origin: 'https://cal.example.com:8443',
    });
    expect(parseDestination('/dav/x.ics')).toEqual({ path: '/dav/x.ics', origin: null });
    expect(code(() => parseDestination('ftp://x/y'))).toBe('INVALID_HEADER');
    expect(code(() => parseDestination('/bad%E0%A4%A'))).toBe('INVALID_HEADER');
    expect(code(() => parseDestination(undefined))).toBe('INVALID_HEADER');
    expect(parseOverwrite(undefined)).toBe(true);
    expect(parseOverwrite('F')).toBe(false);
    expect(code(() => parseOverwrite('maybe'))).toBe('INVALID_HEADER');
  });

  it('Prefer and Brief', () => {
    expect(parsePrefer('return=minimal')).toEqual({ returnMinimal: true, depthNoroot: false });
    expect(parsePrefer('return = minimal; foo, depth-noroot')).toEqual({ returnMinimal: true, depthNoroot: true });
    expect(parsePrefer(undefined, 't')).toMatchObject({ returnMinimal: true });
    expect(parsePrefer('return=representation')).toMatchObject({ returnMinimal: false });
  });

  it('UTC date-times', () => {
    expect(parseUtcDateTime('20240101T000000Z').toISOString()).toBe('2024-01-01T00:00:00.000Z');
    expect(code(() => parseUtcDateTime('20240230T000000Z'))).toBe('INVALID_BODY');
    expect(code(() => parseUtcDateTime('20240101T000000'))).toBe('INVALID_BODY');
    expect(code(() => parseUtcDateTime('20240101'))).toBe('INVALID_BODY');
  });
});
