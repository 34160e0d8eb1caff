import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { IcalError, compileResource, decodeIcalBytes, expand, indexResource, parseCalendar, splitResources } from '../../../src/lib/ical/index.js';
import { corpusFiles } from './helpers.js';

const files = [...corpusFiles('ics'), ...corpusFiles('malformed/ics')];

function processAll(file: string): { resources: number; errors: string[]; occurrences: number } {
  const text = decodeIcalBytes(readFileSync(file));
  const cal = parseCalendar(text);
  const split = splitResources(cal, { stripMethod: true });
  const errors = split.errors.map((e) => `${e.code}: ${e.message}`);
  let occurrences = 0;
  for (const r of split.resources) {
    try {
      const c = compileResource(r.calendar);
      indexResource(c, { defaultTz: 'Europe/Berlin' });
      occurrences += expand(c, new Date('2025-01-01T00:00:00Z'), new Date('2026-01-01T00:00:00Z'), { defaultTz: 'Europe/Berlin' }).length;
      expand(c, new Date('2000-01-01T00:00:00Z'), new Date('2001-01-01T00:00:00Z')).length;
    } catch (e) {
      if (!(e instanceof IcalError)) throw e;
      errors.push(`${e.code}: ${e.message}`);
    }
  }
  return { resources: split.resources.length, errors, occurrences };
}

describe('corpus: every file parses+indexes+expands or fails with IcalError', () => {
  it.each(files.map((f) => [path.relative(path.dirname(path.dirname(f)), f), f]))('%s', (_name, file) => {
    const t0 = performance.now();
    try {
      processAll(file);
    } catch (e) {
      expect(e).toBeInstanceOf(IcalError);
      expect((e as IcalError).code).toMatch(/^[A-Z_]+$/);
      expect((e as IcalError).message.length).toBeGreaterThan(10);
    }
    // 1 s per file; the 399 KB file (1 321 resources, ~350 ms alone) gets headroom for a loaded CI machine.
    expect(performance.now() - t0).toBeLessThan(readFileSync(file).length > 200_000 ? 3000 : 1000);
  });
});

// prepareResource (app/events/resource.ts) compiles the split's own component instead of parsing
// the resource's text again: both must give the same series, for every resource of the corpus.
describe('corpus: a resource compiled from its component equals the one compiled from its text', () => {
  it.each(corpusFiles('ics').map((f) => [path.basename(f), f]))('%s', (_name, file) => {
    let split: ReturnType<typeof splitResources>;
    try {
      split = splitResources(parseCalendar(decodeIcalBytes(readFileSync(file))), { stripMethod: true });
    } catch (e) {
      expect(e).toBeInstanceOf(IcalError); // a file that does not parse has no resource to compare
      return;
    }
    const from = new Date('2024-01-01T00:00:00Z');
    const to = new Date('2027-01-01T00:00:00Z');
    for (const r of split.resources) {
      let viaText: unknown;
      try {
        const c = compileResource(r.text);
        viaText = { index: indexResource(c, { defaultTz: 'Europe/Berlin' }), occ: expand(c, from, to, { defaultTz: 'Europe/Berlin' }) };
      } catch (e) {
        expect(() => compileResource(r.calendar)).toThrow((e as Error).message);
        continue;
      }
      const c = compileResource(r.calendar);
      expect({ index: indexResource(c, { defaultTz: 'Europe/Berlin' }), occ: expand(c, from, to, { defaultTz: 'Europe/Berlin' }) }).toEqual(viaText);
    }
  });
});
