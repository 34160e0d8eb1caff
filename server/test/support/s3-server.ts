/**
 * An S3-compatible server for tests, written from the public Amazon S3 REST API documentation:
 * PutObject, GetObject, HeadObject, DeleteObject with path-style addressing (/bucket/key), objects
 * kept in memory, and request authentication by AWS Signature Version 4 in the Authorization
 * header, checked as S3 checks it:
 * - the Credential's access key must be known (403 InvalidAccessKeyId), its scope
 *   <date>/<region>/s3/aws4_request must match x-amz-date and the server's region
 *   (400 AuthorizationHeaderMalformed);
 * - host, x-amz-date and x-amz-content-sha256 must be among the signed headers;
 * - x-amz-date within 15 minutes of the server's clock (403 RequestTimeTooSkewed);
 * - the signature recomputed from the request as received (method, raw path, query, the signed
 *   headers' values) must match (403 SignatureDoesNotMatch);
 * - a PUT needs a Content-Length (411 MissingContentLength), and a body whose SHA-256 is not the
 *   x-amz-content-sha256 it claimed is refused (400 XAmzContentSHA256Mismatch).
 * Errors are S3's XML error documents. The signature check is written apart from the client's
 * signer (src/integrations/blob/s3-store.ts) and tested against AWS's own published example.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface S3Sim {
  url: string;
  region: string;
  /** bucket → key → object */
  buckets: Map<string, Map<string, { body: Buffer; contentType: string; etag: string }>>;
  /** Every request as received: method, path and the S3 error code answered (null for success). */
  log: { method: string; path: string; error: string | null }[];
  close(): Promise<void>;
}

const xmlError = (code: string, message: string, resource: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><Resource>${resource}</Resource><RequestId>sim</RequestId></Error>`;

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** S3's URI encoding of one query component (RFC 3986 unreserved characters stay). */
function encodeComponent(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/**
 * The signature S3 computes for a request (Signature Version 4, "Authorization header" form).
 * `rawPath` is the path exactly as sent (S3 does not normalise or re-encode it).
 */
export function expectedSignature(r: { method: string; rawPath: string; rawQuery: string; headerValue: (name: string) => string | undefined; signedHeaders: string[]; payloadHash: string; amzDate: string; region: string; secret: string }): string {
  const query = r.rawQuery
    ? r.rawQuery.split('&').map((p) => {
      const [k, v = ''] = p.split('=');
      return [encodeComponent(decodeURIComponent(k)), encodeComponent(decodeURIComponent(v))];
    }).sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join('&')
    : '';
  const canonicalHeaders = r.signedHeaders.map((h) => `${h}:${(r.headerValue(h) ?? '').trim().replace(/ +/g, ' ')}\n`).join('');
  const canonicalRequest = `${r.method}\n${r.rawPath}\n${query}\n${canonicalHeaders}\n${r.signedHeaders.join(';')}\n${r.payloadHash}`;
  const date = r.amzDate.slice(0, 8);
  const stringToSign = `AWS4-HMAC-SHA256\n${r.amzDate}\n${date}/${r.region}/s3/aws4_request\n${createHash('sha256').update(canonicalRequest, 'utf8').digest('hex')}`;
  const kSigning = hmac(hmac(hmac(hmac('AWS4' + r.secret, date), r.region), 's3'), 'aws4_request');
  return createHmac('sha256', kSigning).update(stringToSign, 'utf8').digest('hex');
}

export async function startS3Sim(opts: { credentials: Record<string, string>; buckets: string[]; region?: string }): Promise<S3Sim> {
  const region = opts.region ?? 'us-east-1';
  const buckets = new Map(opts.buckets.map((b) => [b, new Map<string, { body: Buffer; contentType: string; etag: string }>()]));
  const log: S3Sim['log'] = [];

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const method = req.method ?? 'GET';
      const rawUrl = req.url ?? '/';
      const q = rawUrl.indexOf('?');
      const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
      const rawQuery = q < 0 ? '' : rawUrl.slice(q + 1);
      const fail = (status: number, code: string, message: string) => {
        log.push({ method, path: rawPath, error: code });
        const body = method === 'HEAD' ? '' : xmlError(code, message, rawPath);
        res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), 'x-amz-request-id': 'sim' });
        res.end(body);
      };
      const header = (name: string) => {
        const v = req.headers[name];
        return Array.isArray(v) ? v.join(',') : v;
      };

      // Authentication.
      const auth = header('authorization');
      if (!auth) return fail(403, 'AccessDenied', 'Access Denied');
      const m = /^AWS4-HMAC-SHA256 Credential=([^/,]+)\/(\d{8})\/([^/,]+)\/s3\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
      if (!m) return fail(400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed');
      const [, accessKey, scopeDate, scopeRegion, signedList, signature] = m;
      const secret = opts.credentials[accessKey];
      if (secret === undefined) return fail(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
      if (scopeRegion !== region) return fail(400, 'AuthorizationHeaderMalformed', `the region '${scopeRegion}' is wrong; expecting '${region}'`);
      const signedHeaders = signedList.split(';');
      if (!['host', 'x-amz-date', 'x-amz-content-sha256'].every((h) => signedHeaders.includes(h))) return fail(403, 'AccessDenied', 'host, x-amz-date and x-amz-content-sha256 must be signed');
      const amzDate = header('x-amz-date') ?? '';
      const t = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
      if (!t) return fail(403, 'AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
      if (scopeDate !== amzDate.slice(0, 8)) return fail(400, 'AuthorizationHeaderMalformed', 'The credential date does not match x-amz-date');
      const when = Date.UTC(+t[1], +t[2] - 1, +t[3], +t[4], +t[5], +t[6]);
      if (Math.abs(when - Date.now()) > 15 * 60_000) return fail(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.');
      const payloadHash = header('x-amz-content-sha256') ?? '';
      const expected = expectedSignature({ method, rawPath, rawQuery, headerValue: header, signedHeaders, payloadHash, amzDate, region, secret });
      if (!timingSafeEqual(Buffer.from(expected), Buffer.from(signature))) {
        return fail(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.');
      }

      // Path-style: /bucket/key.
      const path = decodeURIComponent(rawPath);
      const slash = path.indexOf('/', 1);
      const bucketName = slash < 0 ? path.slice(1) : path.slice(1, slash);
      const key = slash < 0 ? '' : path.slice(slash + 1);
      const bucket = buckets.get(bucketName);
      if (!bucket) return fail(404, 'NoSuchBucket', 'The specified bucket does not exist');
      if (!key) return fail(400, 'InvalidRequest', 'Only object operations are simulated');
      const body = Buffer.concat(chunks);
      const ok = (status: number, headers: Record<string, string | number>, out: Buffer | string = '') => {
        log.push({ method, path: rawPath, error: null });
        res.writeHead(status, { 'x-amz-request-id': 'sim', ...headers });
        res.end(method === 'HEAD' ? undefined : out);
      };
      switch (method) {
        case 'PUT': {
          if (header('content-length') === undefined) return fail(411, 'MissingContentLength', 'You must provide the Content-Length HTTP header.');
          if (payloadHash !== 'UNSIGNED-PAYLOAD' && createHash('sha256').update(body).digest('hex') !== payloadHash) {
            return fail(400, 'XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.');
          }
          const etag = `"${createHash('md5').update(body).digest('hex')}"`;
          bucket.set(key, { body, contentType: header('content-type') ?? 'binary/octet-stream', etag });
          return ok(200, { etag, 'content-length': 0 });
        }
        case 'GET':
        case 'HEAD': {
          const o = bucket.get(key);
          if (!o) return method === 'HEAD' ? fail(404, 'NotFound', '') : fail(404, 'NoSuchKey', 'The specified key does not exist.');
          return ok(200, { 'content-type': o.contentType, 'content-length': o.body.length, etag: o.etag }, o.body);
        }
        case 'DELETE':
          bucket.delete(key);
          return ok(204, {});
        default:
          return fail(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`, region, buckets, log,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
