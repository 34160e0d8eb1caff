// Per-domain SMTP rate limits, DKIM signing from configuration, and the outbox/deliveries CLI.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { spawnSync, execFileSync } from 'node:child_process';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMailTransport, DomainRateLimiter, parseDomainRates, recipientDomains } from '../../src/integrations/mail/transport.js';
import { dkimOptions } from '../../src/app/notify/mailer.js';
import { loadConfig } from '../../src/config/load.js';
import { startLiteSink, headerValue, type LiteSink } from './lite-sink.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
let sink: LiteSink;
beforeAll(async () => { sink = await startLiteSink({ keepRaw: true }); });
afterAll(async () => { await sink.close(); });

describe('per-domain rate limits', () => {
  it('spaces messages to one domain at 1/rate; other domains are not held up', async () => {
    const l = new DomainRateLimiter(10, { 'slow.org': 2 });
    const t0 = 1_000_000;
    const now = Date.now();
    const slow = Promise.all(Array.from({ length: 4 }, () => l.acquire(['slow.org'], now)));
    const fast = await Promise.all(Array.from({ length: 3 }, () => l.acquire(['fast.org'], now)));
    expect(fast).toEqual([0, 100, 200]); // the default rate (10/s), not held up by slow.org
    expect(await slow).toEqual([0, 500, 1000, 1500]);
    void t0;
  }, 10_000);

  it('parses exceptions and finds recipient domains', () => {
    expect(parseDomainRates(['gmail.com=20', ' Yandex.RU = 1.5 '])).toEqual({ 'gmail.com': 20, 'yandex.ru': 1.5 });
    expect(() => parseDomainRates(['gmail.com'])).toThrow(/domain=messages-per-second/);
    expect(recipientDomains({ to: [{ name: 'A', address: 'a@X.org' }, 'b@y.org'], cc: 'C <c@z.org>' }).sort()).toEqual(['x.org', 'y.org', 'z.org']);
    expect(recipientDomains({ to: 'a@x.org', envelope: { from: 'f@e.org', to: ['q@env.org'] } })).toEqual(['env.org']);
  });

  it('through the SMTP transport: 6 messages to one domain at 4/s take ≥ 1.25 s and arrive', async () => {
    const t = createMailTransport({ smtpUrl: sink.url, outboxDir: '/tmp/unused', ratePerDomain: 4 });
    const before = sink.messages.length;
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 6 }, (_, i) => t.send({ from: 'calendar@example.com', to: `r${i}@limited.org`, subject: 'x', text: 'x', messageId: `<rl.${i}.${t0}@example.com>` })));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1200);
    expect(sink.messages.length - before).toBe(6);
    t.close();
  });
});

describe('DKIM', () => {
  it('signs outgoing mail when the three settings are given (key as PEM or file)', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    mkdirSync('/tmp/calendula-dkim', { recursive: true });
    writeFileSync('/tmp/calendula-dkim/key.pem', pem);
    const cfg = loadConfig({ CALENDULA_DKIM_DOMAIN: 'example.com', CALENDULA_DKIM_SELECTOR: 'cal', CALENDULA_DKIM_PRIVATE_KEY: '/tmp/calendula-dkim/key.pem' });
    const dkim = dkimOptions(cfg)!;
    expect(dkim).toMatchObject({ domainName: 'example.com', keySelector: 'cal' });
    expect(dkimOptions({ ...cfg, dkimPrivateKey: pem })!.privateKey).toBe(pem);
    expect(dkimOptions({ dkimDomain: undefined, dkimSelector: undefined, dkimPrivateKey: undefined })).toBeUndefined();
    expect(() => dkimOptions({ dkimDomain: 'example.com', dkimSelector: undefined, dkimPrivateKey: undefined })).toThrow(/DKIM/);
    const t = createMailTransport({ smtpUrl: sink.url, outboxDir: '/tmp/unused', dkim });
    await t.send({ from: 'calendar@example.com', to: 'x@partner.org', subject: 'signed', text: 'hello', messageId: '<dkim.1@example.com>' });
    t.close();
    const m = sink.messages.find((x) => x.messageId === '<dkim.1@example.com>')!;
    expect(headerValue(m.raw!, 'DKIM-Signature')).toMatch(/d=example\.com;.*s=cal;/);
    rmSync('/tmp/calendula-dkim', { recursive: true, force: true });
  });
});

describe('CLI', () => {
  beforeAll(() => { execFileSync(process.execPath, ['scripts/ensure.mjs', '--quiet'], { cwd: root, stdio: 'inherit' }); }, 120_000);
  const cli = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, ['bin/calendula.mjs', ...args], { cwd: root, env: { ...process.env, LOG_LEVEL: 'silent', ...env }, encoding: 'utf8', timeout: 60_000 });

  it('every new command has --help', () => {
    for (const c of [['outbox', '--help'], ['outbox', 'list', '--help'], ['outbox', 'show', '--help'], ['deliveries', '--help']]) {
      const r = cli(c);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/Usage: calendula/);
    }
  });

  it('outbox list / show read the outbox in the data dir', () => {
    const dir = `/tmp/calendula-cli-outbox-${process.pid}`;
    mkdirSync(`${dir}/outbox`, { recursive: true });
    writeFileSync(`${dir}/outbox/imip.x-1234.eml`, 'From: a@example.com\r\nTo: x@partner.org\r\nSubject: Hello outbox\r\nMessage-ID: <imip.x@example.com>\r\n\r\nbody\r\n');
    const list = cli(['outbox', 'list'], { CALENDULA_DATA_DIR: dir });
    expect(list.status, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/imip\.x-1234\.eml\tx@partner\.org\tHello outbox/);
    const show = cli(['outbox', 'show', 'imip.x-1234.eml'], { CALENDULA_DATA_DIR: dir });
    expect(show.stdout).toMatch(/Subject: Hello outbox/);
    expect(cli(['outbox', 'show', '../etc/passwd'], { CALENDULA_DATA_DIR: dir }).status).toBe(1);
    rmSync(dir, { recursive: true, force: true });
  });
});
