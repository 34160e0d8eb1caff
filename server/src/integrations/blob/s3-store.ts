/**
 * S3-compatible blob store (AWS S3, MinIO, Ceph RGW, …) over the S3 REST API, signed with AWS
 * Signature Version 4 (the Authorization header form), using node's own http/https — no SDK.
 *
 * PutObject needs a Content-Length (S3 does not take Transfer-Encoding: chunked), so an upload is
 * first streamed to a temporary file, metered against the size limit and hashed; it is then
 * streamed from that file with its length and its SHA-256 as the signed x-amz-content-sha256, so
 * the store checks the body it received. Downloads stream the GetObject response through.
 */
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { createReadStream, mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BlobStoreError, spoolTo, type BlobStore } from './fs-store.js';

export interface S3Options {
  /** Base URL of the service, e.g. https://s3.eu-central-1.amazonaws.com or http://minio:9000. */
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Path-style addressing (endpoint/bucket/key) instead of virtual-hosted (bucket.endpoint/key). */
  pathStyle: boolean;
  /** Folder for the temporary copy of an upload. */
  tmpDir: string;
}

export const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');

/** RFC 3986 encoding as SigV4 wants it: everything but unreserved characters; '/' kept in paths. */
export function uriEncode(s: string, keepSlash: boolean): string {
  let out = '';
  for (const ch of s) {
    if (/[A-Za-z0-9_.~-]/.test(ch) || (keepSlash && ch === '/')) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

export interface SignInput {
  method: string;
  /** The canonical (already encoded) path. */
  path: string;
  query?: Record<string, string>;
  /** Header names in any case; every one given is signed (host and x-amz-date among them). */
  headers: Record<string, string>;
  payloadHash: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  service?: string;
}

/**
 * The Authorization header value (AWS Signature Version 4, "Authenticating Requests: Using the
 * Authorization Header"): canonical request → string to sign → signing key derived from the date,
 * region and service → HMAC-SHA256.
 */
export function authorizationV4(i: SignInput): string {
  const service = i.service ?? 's3';
  const headers = Object.entries(i.headers).map(([k, v]) => [k.toLowerCase(), String(v).trim().replace(/\s+/g, ' ')] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const amzDate = headers.find(([k]) => k === 'x-amz-date')?.[1];
  if (!amzDate) throw new Error('x-amz-date must be signed');
  const signed = headers.map(([k]) => k).join(';');
  const query = Object.entries(i.query ?? {}).map(([k, v]) => [uriEncode(k, false), uriEncode(v, false)]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`).join('&');
  const canonical = [i.method, i.path, query, ...headers.map(([k, v]) => `${k}:${v}`), '', signed, i.payloadHash].join('\n');
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${i.region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
  const key = hmac(hmac(hmac(hmac(`AWS4${i.secretAccessKey}`, day), i.region), service), 'aws4_request');
  const signature = createHmac('sha256', key).update(toSign).digest('hex');
  return `AWS4-HMAC-SHA256 Credential=${i.accessKeyId}/${scope},SignedHeaders=${signed},Signature=${signature}`;
}

const amzDateOf = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');

export function createS3BlobStore(o: S3Options): BlobStore {
  const base = new URL(o.endpoint);
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error(`S3 endpoint must be an http(s) URL, got ${o.endpoint}`);
  const basePath = base.pathname.replace(/\/+$/, '');
  const agent = base.protocol === 'https:' ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
  mkdirSync(o.tmpDir, { recursive: true });
  const checkKey = (key: string) => {
    if (!/^[0-9a-f]{2}\/[0-9a-f-]{36}$/.test(key)) throw new Error('bad blob key');
    return key;
  };

  function send(method: string, key: string, opts: { body?: Readable; length?: number; payloadHash?: string; headers?: Record<string, string> } = {}): Promise<http.IncomingMessage> {
    const host = o.pathStyle ? base.host : `${o.bucket}.${base.host}`;
    const path = `${basePath}${o.pathStyle ? `/${uriEncode(o.bucket, false)}` : ''}/${uriEncode(key, true)}`;
    const payloadHash = opts.payloadHash ?? EMPTY_SHA256;
    const headers: Record<string, string> = { host, 'x-amz-date': amzDateOf(new Date()), 'x-amz-content-sha256': payloadHash, ...(opts.headers ?? {}) };
    if (opts.length !== undefined) headers['content-length'] = String(opts.length);
    headers.authorization = authorizationV4({ method, path, headers, payloadHash, accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey, region: o.region });
    const lib = base.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request({ protocol: base.protocol, hostname: o.pathStyle ? base.hostname : `${o.bucket}.${base.hostname}`, port: base.port || undefined, method, path, headers, agent });
      req.on('response', resolve);
      req.on('error', (e) => reject(new BlobStoreError(`S3 ${method} ${key}: ${e.message}`, 0, 'NetworkError')));
      if (opts.body) {
        opts.body.on('error', (e) => req.destroy(e));
        opts.body.pipe(req);
      } else {
        req.end();
      }
    });
  }

  /** A non-2xx answer as an error carrying S3's <Code> (SignatureDoesNotMatch, NoSuchKey, …). */
  async function failure(method: string, key: string, res: http.IncomingMessage): Promise<BlobStoreError> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of res) {
      if (size < 64 * 1024) chunks.push(c as Buffer);
      size += (c as Buffer).length;
    }
    const xml = Buffer.concat(chunks).toString('utf8');
    const code = /<Code>([^<]*)<\/Code>/.exec(xml)?.[1] ?? `HTTP${res.statusCode}`;
    const message = /<Message>([^<]*)<\/Message>/.exec(xml)?.[1] ?? res.statusMessage ?? '';
    return new BlobStoreError(`S3 ${method} ${key}: ${res.statusCode} ${code}${message ? `: ${message}` : ''}`, res.statusCode ?? 0, code);
  }

  const drain = (res: http.IncomingMessage) => new Promise<void>((r) => { res.resume(); res.on('end', r); res.on('error', () => r()); });

  return {
    async put(data, maxBytes) {
      const id = randomUUID();
      const key = `${id.slice(0, 2).replace(/[^0-9a-f]/g, '0')}/${id}`;
      const tmp = join(o.tmpDir, id);
      let body: Readable | undefined;
      try {
        const { size, sha256 } = await spoolTo(data, maxBytes, tmp);
        body = createReadStream(tmp);
        const res = await send('PUT', key, { body, length: size, payloadHash: sha256, headers: { 'content-type': 'application/octet-stream' } });
        if (res.statusCode !== 200) throw await failure('PUT', key, res);
        await drain(res);
        return { key, size, sha256 };
      } finally {
        // A store may answer (an error) before it has read the whole body: the file is closed anyway.
        body?.destroy();
        await rm(tmp, { force: true });
      }
    },
    async get(key) {
      const res = await send('GET', checkKey(key));
      if (res.statusCode !== 200) throw await failure('GET', key, res);
      return res;
    },
    async size(key) {
      const res = await send('HEAD', checkKey(key));
      await drain(res);
      if (res.statusCode !== 200) throw new BlobStoreError(`S3 HEAD ${key}: ${res.statusCode}`, res.statusCode ?? 0, res.statusCode === 404 ? 'NoSuchKey' : `HTTP${res.statusCode}`);
      return Number(res.headers['content-length']);
    },
    async remove(key) {
      const res = await send('DELETE', checkKey(key));
      // DeleteObject answers 204 whether or not the key existed; 404 from some stores is fine too.
      if (res.statusCode !== 204 && res.statusCode !== 200 && res.statusCode !== 404) throw await failure('DELETE', key, res);
      await drain(res);
    },
  };
}
