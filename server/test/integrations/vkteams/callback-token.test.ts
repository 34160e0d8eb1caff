import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  encodeCallbackToken, tokenBelongsTo, verifyCallbackToken, verifyCallbackTokenFor, type EncodeInput,
} from '../../../src/integrations/vkteams/callback-token.js';

const KEY = 'test-key-0123456789abcdef';
const NOW = Date.UTC(2025, 0, 15, 9, 30);

const uuidCopy: EncodeInput = {
  copyId: '3f1e2d4c-5b6a-4978-8a9b-0c1d2e3f4a5b', userId: '9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d',
  rid: '20250120T090000Z', answer: 'A', seq: 3, issuedAt: NOW,
};

describe('callback tokens', () => {
  it('round-trips UUID ids with a UTC recurrence id', () => {
    const t = encodeCallbackToken(uuidCopy, KEY);
    expect(t).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(t.length).toBeLessThanOrEqual(76);
    expect(verifyCallbackToken(t, KEY)).toEqual({ ok: true, payload: { ...uuidCopy, issuedAt: NOW } });
  });

  it('is compact with numeric ids (bigint too) and round-trips other rid forms', () => {
    const t = encodeCallbackToken({ copyId: 123456789012345678901234n, userId: '42', answer: 'D', seq: 0, issuedAt: NOW }, KEY);
    expect(t.length).toBeLessThanOrEqual(40);
    expect(verifyCallbackToken(t, KEY)).toEqual({ ok: true, payload: { copyId: '123456789012345678901234', userId: '42', answer: 'D', seq: 0, issuedAt: NOW } });
    for (const rid of ['20250120', '20250120T090000', 'TZID=Europe/Moscow:20250120T090000']) {
      const r = verifyCallbackToken(encodeCallbackToken({ copyId: '7', userId: 'bob@corp.example', rid, answer: 'T', seq: 12, issuedAt: NOW }, KEY), KEY);
      expect(r).toEqual({ ok: true, payload: { copyId: '7', userId: 'bob@corp.example', rid, answer: 'T', seq: 12, issuedAt: NOW } });
    }
  });

  it('property: any payload round-trips', () => {
    fc.assert(fc.property(
      fc.oneof(fc.uuid().map((u) => u.toLowerCase()), fc.bigInt({ min: 0n, max: 2n ** 100n }).map(String), fc.string({ minLength: 1, maxLength: 40 })),
      fc.oneof(fc.uuid().map((u) => u.toLowerCase()), fc.nat().map(String), fc.emailAddress().filter((e) => Buffer.byteLength(e) < 255)),
      fc.option(fc.oneof(fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }).map((d) => d.toISOString().replace(/[-:]|\.\d+/g, '')), fc.string({ maxLength: 30 })), { nil: undefined }),
      fc.constantFrom('A' as const, 'T' as const, 'D' as const), fc.nat(), fc.nat({ max: 4e12 }),
      (copyId, userId, rid, answer, seq, issuedAt) => {
        const r = verifyCallbackToken(encodeCallbackToken({ copyId, userId, rid, answer, seq, issuedAt }, KEY), KEY);
        expect(r).toEqual({ ok: true, payload: { copyId, userId, answer, seq, issuedAt: Math.floor(issuedAt / 60_000) * 60_000, ...(rid === undefined ? {} : { rid }) } });
      }), { numRuns: 300 });
  });

  it('a token signed with another key is forged', () => {
    expect(verifyCallbackToken(encodeCallbackToken(uuidCopy, 'other-key'), KEY)).toEqual({ ok: false, reason: 'forged' });
  });

  it('flipping any bit of any byte makes it forged or malformed, never valid', () => {
    const raw = Buffer.from(encodeCallbackToken(uuidCopy, KEY), 'base64url');
    for (let i = 0; i < raw.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const b = Buffer.from(raw);
        b[i] ^= 1 << bit;
        const r = verifyCallbackToken(b.toString('base64url'), KEY);
        expect(r.ok).toBe(false);
        if (i > 0) expect(r).toEqual({ ok: false, reason: 'forged' }); // byte 0 is the version
      }
    }
  });

  it('changing the answer, user or copy inside the token cannot be done without the key', () => {
    const raw = Buffer.from(encodeCallbackToken({ ...uuidCopy, answer: 'D' }, KEY), 'base64url');
    raw[1] = (raw[1] & ~3) | 0; // D → A in the flags byte
    expect(verifyCallbackToken(raw.toString('base64url'), KEY)).toEqual({ ok: false, reason: 'forged' });
  });

  it('a token for user A pressed by user B is rejected by the binding check', () => {
    const t = encodeCallbackToken({ copyId: '100', userId: 'alice-id', answer: 'A', seq: 1 }, KEY);
    const r = verifyCallbackToken(t, KEY);
    if (!r.ok) throw new Error('should verify');
    expect(tokenBelongsTo(r.payload, 'alice-id')).toBe(true);
    expect(tokenBelongsTo(r.payload, 'bob-id')).toBe(false);
    expect(verifyCallbackTokenFor(t, KEY, 'bob-id')).toMatchObject({ ok: false, reason: 'not-yours' });
    expect(verifyCallbackTokenFor(t, KEY, 'alice-id')).toMatchObject({ ok: true });
    const u = encodeCallbackToken(uuidCopy, KEY);
    expect(verifyCallbackTokenFor(u, KEY, uuidCopy.userId.toString().toUpperCase())).toMatchObject({ ok: true });
  });

  it('expiry is checked after the MAC', () => {
    const t = encodeCallbackToken(uuidCopy, KEY);
    expect(verifyCallbackToken(t, KEY, { maxAgeMs: 60 * 60_000, now: NOW + 61 * 60_000 })).toEqual({ ok: false, reason: 'expired' });
    expect(verifyCallbackToken(t, KEY, { maxAgeMs: 60 * 60_000, now: NOW + 59 * 60_000 }).ok).toBe(true);
  });

  it('malformed inputs', () => {
    for (const s of ['', 'abc', '!!!!!!!!!!!!!!!!!!!!', 'a'.repeat(2000), 'AAAAAAAAAAAAAAAAAAAAAAAA=']) {
      expect(verifyCallbackToken(s, KEY)).toEqual({ ok: false, reason: 'malformed' });
    }
  });

  it('property: random strings never verify', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 120 }), fc.base64String({ maxLength: 120 }).map((s) => s.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')),
      fc.uint8Array({ minLength: 0, maxLength: 90 }).map((b) => Buffer.concat([Buffer.from([1]), b]).toString('base64url'))), (s) => {
      expect(verifyCallbackToken(s, KEY).ok).toBe(false);
    }), { numRuns: 2000 });
  });

  it('rejects invalid input when encoding', () => {
    expect(() => encodeCallbackToken({ ...uuidCopy, seq: -1 }, KEY)).toThrow(RangeError);
    expect(() => encodeCallbackToken({ ...uuidCopy, answer: 'X' as 'A' }, KEY)).toThrow(RangeError);
    expect(() => encodeCallbackToken({ ...uuidCopy, userId: 'x'.repeat(300) }, KEY)).toThrow(RangeError);
  });
});
