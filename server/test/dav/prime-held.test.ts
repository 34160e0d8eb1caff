/**
 * primeHeldObject (http/dav/common.ts): an object the CalDAV read cache keeps gets its usual
 * calendar-multiget answer rendered at once, and its text becomes a slice of that answer when it
 * needs no escaping. What a GET or a multiget then sends must be exactly what it sent before.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { cachedObjectResponse, primeHeldObject } from '../../src/http/dav/common.js';
import type { CachedObject } from '../../src/http/dav/read-cache.js';

const PROPS = [{ ns: 'DAV:', name: 'getetag' }, { ns: 'urn:ietf:params:xml:ns:caldav', name: 'calendar-data' }];
const KEY = 'getetag,calendar-data';

const held = (ical: string, etag = 'abc123'): CachedObject => ({
  id: '00000000-0000-4000-8000-000000000001', name: 'e.ics', etag, schedule_tag: 's1', role: 'organizer', component: 'VEVENT',
  updated_at: new Date(0), class: null, size: Buffer.byteLength(ical), ical, lastModified: new Date(0).toUTCString(),
} as CachedObject);

const ics = (summary: string) => `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\nSUMMARY:${summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`;

describe('primeHeldObject', () => {
  it('keeps the text (as a slice of the answer) and renders the same answer as a first multiget would', () => {
    for (const summary of ['Plain', 'Встреча', 'A & B <c>', 'tab\there', '']) {
      const text = ics(summary);
      const lazy = held(text);
      const primed = held(text);
      primeHeldObject(primed);
      expect(primed.ical).toBe(text);
      expect(primed.tailKey).toBe(KEY);
      const h = '/dav/calendars/a%40b/c/e.ics';
      expect(cachedObjectResponse(h, primed, PROPS, null, KEY)).toBe(cachedObjectResponse(h, lazy, PROPS, null, KEY));
      // Other property sets are rendered as before.
      const other = [PROPS[1]!, PROPS[0]!];
      expect(cachedObjectResponse(h, primed, other, null, 'calendar-data,getetag')).toBe(cachedObjectResponse(h, held(text), other, null, 'calendar-data,getetag'));
    }
  });

  it('for any text and etag, the primed object answers exactly as the unprimed one', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.string({ maxLength: 20 }), (summary, etag) => {
      const text = ics(summary);
      const primed = held(text, etag || 'e');
      primeHeldObject(primed);
      expect(primed.ical).toBe(text);
      expect(cachedObjectResponse('/h', primed, PROPS, null, KEY)).toBe(cachedObjectResponse('/h', held(text, etag || 'e'), PROPS, null, KEY));
    }), { numRuns: 300 });
  });
});
