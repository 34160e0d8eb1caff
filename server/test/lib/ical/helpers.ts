import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeIcalBytes } from '../../../src/lib/ical/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repo root (server/test/lib/ical → ../../../..). */
export const repoRoot = path.resolve(here, '../../../..');
/** The shared corpus, resolved from the repo root as ../shared/corpus. */
export const corpusDir = path.resolve(repoRoot, '../shared/corpus');

export function corpusFiles(sub: string): string[] {
  const dir = path.join(corpusDir, sub);
  return readdirSync(dir).filter((f) => f.endsWith('.ics')).map((f) => path.join(dir, f));
}

export function readCorpus(rel: string): string {
  return decodeIcalBytes(readFileSync(path.join(corpusDir, rel)));
}
