/**
 * The S3-compatible blob store (src/integrations/blob/s3-store.ts), through the app, against an
 * S3 simulator that checks AWS Signature V4 (test/support/s3-server.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, rmSync } from 'node:fs';
import { createTestEnv, eventually, startTestWorker, type TestEnv } from '../../support/harness.js';
import { startS3Sim, expectedSignature, type S3Sim } from '../../support/s3-server.js';
import { create, ev, user, type TestUser } from '../../core/_helpers.js';
import { authorizationV4 } from '../../../src/integrations/blob/s3-store.js';
import { collectGarbage } from '../../../src/app/attachments.js';
import { loadConfig } from '../../../src/config/load.js';

// AWS's published example ("Authenticating Requests: Using the Authorization Header (AWS Signature
// Version 4)", GET Object): the signature both sides must compute.
const AWS_EXAMPLE = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secret: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', region: 'us-east-1',
  headers: { host: 'examplebucket.s3.amazonaws.com', range: 'bytes=0-9', 'x-amz-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'x-amz-date': '20130524T000000Z' } as Record<string, string>,
  signature: 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
};

describe('AWS Signature V4', () => {
  it('the client signer and the simulator both give AWS’s example signature', () => {
    const e = AWS_EXAMPLE;
    expect(authorizationV4({ method: 'GET', path: '/test.txt', headers: e.headers, payloadHash: e.headers['x-amz-content-sha256'], accessKeyId: e.accessKeyId, secretAccessKey: e.secret, region: e.region }))
      .toBe(`AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=${e.signature}`);
    expect(expectedSignature({ method: 'GET', rawPath: '/test.txt', rawQuery: '', headerValue: (h) => e.headers[h], signedHeaders: ['host', 'range', 'x-amz-content-sha256', 'x-amz-date'], payloadHash: e.headers['x-amz-content-sha256'], amzDate: '20130524T000000Z', region: e.region, secret: e.secret }))
      .toBe(e.signature);
  });

  it('an S3 store without its settings is a configuration error', () => {
    expect(() => loadConfig({ CALENDULA_BLOB_STORE: 's3' })).toThrow(/CALENDULA_S3_ENDPOINT, CALENDULA_S3_BUCKET, CALENDULA_S3_ACCESS_KEY_ID, CALENDULA_S3_SECRET_ACCESS_KEY/);
    expect(() => loadConfig({ CALENDULA_BLOB_STORE: 'ftp' })).toThrow(/expected fs or s3/);
  });
});

describe('attachments in an S3-compatible bucket', () => {
  const dir = `/tmp/calendula-test-s3-${process.pid}`;
  let sim: S3Sim;
  let env: TestEnv;
  let worker: { stop(): Promise<void> };
  let anna: TestUser;
  let boris: TestUser;

  beforeAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    sim = await startS3Sim({ credentials: { CALENDULAKEY: 'right-secret' }, buckets: ['calendula'], region: 'eu-central-1' });
    env = await createTestEnv({
      mailDomains: ['example.com'], dataDir: dir, attachmentMaxBytes: 256 * 1024,
      blobStore: 's3', s3Endpoint: sim.url, s3Bucket: 'calendula', s3Region: 'eu-central-1', s3AccessKeyId: 'CALENDULAKEY', s3SecretAccessKey: 'right-secret', s3PathStyle: true,
    });
    anna = await user(env, 'anna@example.com', 'Anna');
    boris = await user(env, 'boris@example.com', 'Boris');
    worker = await startTestWorker(env);
  });
  afterAll(async () => {
    await worker.stop();
    await env.close();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const upload = (u: TestUser, name: string, body: Buffer) => {
    const boundary = '----calendula' + Math.random().toString(16).slice(2);
    const payload = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`), body, Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    return env.app.inject({ method: 'POST', url: '/api/v1/attachments', headers: { ...u.h, 'content-type': `multipart/form-data; boundary=${boundary}` }, payload });
  };
  const objects = () => [...sim.buckets.get('calendula')!.entries()];

  it('upload → download (owner, attendee) → GC delete, all in the bucket; nothing kept on disk', async () => {
    const content = Buffer.from(Array.from({ length: 200 * 1024 }, (_, i) => (i * 7) % 256));
    const up = await upload(anna, 'data.bin', content);
    expect(up.statusCode, up.body).toBe(201);
    const att = up.json();
    const stored = objects();
    expect(stored).toHaveLength(1);
    expect(stored[0][1].body.equals(content)).toBe(true);
    const row = await env.ctx.db.selectFrom('attachment').select('storage_key').where('id', '=', att.id).executeTakeFirstOrThrow();
    expect(stored[0][0]).toBe(row.storage_key);
    // Only the (emptied) temporary folder on disk.
    expect(readdirSync(`${dir}/attachments`)).toEqual(['tmp']);
    expect(readdirSync(`${dir}/attachments/tmp`)).toEqual([]);
    const dl = await anna.api.get(`/attachments/${att.id}`);
    expect(dl.statusCode).toBe(200);
    expect((dl as unknown as { rawPayload: Buffer }).rawPayload.equals(content)).toBe(true);
    // Linked into an event: the attendee reads it from the bucket too.
    const e = await create(anna, ev('With data', '2033-06-01T10:00:00', '2033-06-01T11:00:00', { attendees: [{ email: boris.email }], attachments: [{ id: att.id }] }));
    await eventually(async () => (await boris.api.get(`/attachments/${att.id}`)).statusCode === 200, 10_000, 'attendee download');
    // Too large: refused before anything reaches the bucket.
    const big = await upload(anna, 'big.bin', Buffer.alloc(300 * 1024, 1));
    expect(big.statusCode).toBe(413);
    expect(objects()).toHaveLength(1);
    // Unlinked and past the grace period: GC deletes the object.
    expect((await anna.api.patch(`/events/${e.id}`, { event: { attachments: [] } })).statusCode).toBe(200);
    await eventually(async () => !(await env.ctx.db.selectFrom('attachment_use').select('object_id').where('attachment_id', '=', att.id).executeTakeFirst()), 10_000, 'no more uses');
    await env.ctx.db.updateTable('attachment').set({ created_at: new Date(Date.now() - 2 * 86400_000) }).where('id', '=', att.id).execute();
    expect(await collectGarbage(env.ctx)).toBe(1);
    expect(objects()).toHaveLength(0);
    expect(sim.log.filter((l) => l.method === 'DELETE' && l.error === null)).toHaveLength(1);
    expect(sim.log.every((l) => l.error === null || l.error === 'NoSuchKey')).toBe(true);
  });

  it('a wrong secret: the store refuses (SignatureDoesNotMatch), users get STORAGE_UNAVAILABLE, nothing is half-stored, the server goes on', async () => {
    const good = await upload(anna, 'good.bin', Buffer.from('kept'));
    expect(good.statusCode).toBe(201);
    const cfg = env.ctx.config as { s3SecretAccessKey?: string };
    cfg.s3SecretAccessKey = 'wrong-secret';
    try {
      const r = await upload(anna, 'refused.bin', Buffer.from('x'.repeat(1000)));
      expect(r.statusCode).toBe(503);
      expect(r.json().error).toBe('STORAGE_UNAVAILABLE');
      expect(r.json().message).not.toMatch(/secret|Signature/i);
      expect(sim.log.at(-1)).toMatchObject({ method: 'PUT', error: 'SignatureDoesNotMatch' });
      const ru = await anna.api.get(`/attachments/${good.json().id}`, { 'accept-language': 'ru' });
      expect(ru.statusCode).toBe(503);
      expect(ru.json().message).toMatch(/Хранилище/);
      expect(sim.log.at(-1)).toMatchObject({ method: 'GET', error: 'SignatureDoesNotMatch' });
      // No attachment row for the refused upload, no temporary file left.
      expect((await env.ctx.db.selectFrom('attachment').select('filename').where('owner_id', '=', anna.id).execute()).map((a) => a.filename)).toEqual(['good.bin']);
      expect(readdirSync(`${dir}/attachments/tmp`)).toEqual([]);
      // GC of an unused attachment fails without losing the row (it tries again later).
      await env.ctx.db.updateTable('attachment').set({ created_at: new Date(Date.now() - 2 * 86400_000) }).where('id', '=', good.json().id).execute();
      await expect(collectGarbage(env.ctx)).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
      expect(await env.ctx.db.selectFrom('attachment').select('id').where('id', '=', good.json().id).executeTakeFirst()).toBeTruthy();
    } finally {
      cfg.s3SecretAccessKey = 'right-secret';
    }
    const again = await anna.api.get(`/attachments/${good.json().id}`);
    expect(again.statusCode).toBe(200);
    expect(again.body).toBe('kept');
  });
});
