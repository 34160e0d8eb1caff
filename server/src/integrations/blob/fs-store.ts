/** Filesystem blob store (the default; s3-store.ts implements the same port for an S3-compatible bucket). */
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';

export interface BlobStore {
  put(data: Readable, maxBytes: number): Promise<{ key: string; size: number; sha256: string }>;
  /** The content, once the store has answered (a refused or missing blob rejects, before any byte is sent on). */
  get(key: string): Promise<Readable>;
  size(key: string): Promise<number>;
  remove(key: string): Promise<void>;
}

export class TooLargeError extends Error {}

/** The store failed or refused a request (S3: its error <Code>, e.g. SignatureDoesNotMatch). */
export class BlobStoreError extends Error {
  constructor(message: string, readonly status: number, readonly code: string) {
    super(message);
    this.name = 'BlobStoreError';
  }
}

/** Streams `data` into the file `path`, refusing more than maxBytes (TooLargeError); size and SHA-256. */
export async function spoolTo(data: Readable, maxBytes: number, path: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      if (size > maxBytes) return cb(new TooLargeError(`larger than ${maxBytes} bytes`));
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  try {
    await pipeline(data, meter, createWriteStream(path));
  } catch (e) {
    await rm(path, { force: true });
    throw e;
  }
  return { size, sha256: hash.digest('hex') };
}

export function createFsBlobStore(dir: string): BlobStore {
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const pathOf = (key: string) => {
    if (!/^[0-9a-f]{2}\/[0-9a-f-]{36}$/.test(key)) throw new Error('bad blob key');
    return join(dir, key);
  };
  return {
    async put(data, maxBytes) {
      const id = randomUUID();
      const key = `${id.slice(0, 2).replace(/[^0-9a-f]/g, '0')}/${id}`;
      const tmp = join(dir, 'tmp', id);
      const { size, sha256 } = await spoolTo(data, maxBytes, tmp);
      mkdirSync(join(dir, key.slice(0, 2)), { recursive: true });
      await rename(tmp, join(dir, key));
      return { key, size, sha256 };
    },
    get: async (key) => createReadStream(pathOf(key)),
    size: async (key) => (await stat(pathOf(key))).size,
    remove: (key) => rm(pathOf(key), { force: true }),
  };
}
