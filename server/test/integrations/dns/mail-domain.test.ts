// The mail-domain check (RFC 5321 §5.1, RFC 7505) against a real DNS server on loopback.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMailDomainCheck } from '../../../src/integrations/dns/mail-domain.js';
import { startDnsServer, type TestDnsServer } from '../../support/dns-server.js';

let dns: TestDnsServer;
beforeAll(async () => {
  dns = await startDnsServer({
    'mx.test': { MX: [{ preference: 10, exchange: 'mail.mx.test' }, { preference: 20, exchange: 'backup.mx.test' }] },
    'a-only.test': { A: ['192.0.2.10'] },
    'v6-only.test': { AAAA: ['2001:db8::10'] },
    'no-mail.test': { TXT: ['v=spf1 -all'] },
    'null-mx.test': { MX: [{ preference: 0, exchange: '.' }] },
    'broken.test': 'servfail',
    'slow.test': 'silent',
    'xn--d1acufc.test': { MX: [{ preference: 5, exchange: 'mx.xn--d1acufc.test' }] },
  });
});
afterAll(() => dns.close());

describe('mail-domain check', () => {
  it('answers as an SMTP client would route: MX, else the address records; NXDOMAIN and the null MX refuse', async () => {
    const check = createMailDomainCheck({ servers: [dns.server], timeoutMs: 300 });
    expect(await check.verdict('mx.test')).toEqual({ accepts: true });
    expect(await check.verdict('a-only.test')).toEqual({ accepts: true });
    expect(await check.verdict('v6-only.test')).toEqual({ accepts: true });
    expect(await check.verdict('no-mail.test')).toEqual({ accepts: false, reason: 'no-mail-server' });
    expect(await check.verdict('null-mx.test')).toEqual({ accepts: false, reason: 'null-mx' });
    expect(await check.verdict('nowhere.test')).toEqual({ accepts: false, reason: 'no-domain' });
    // An internationalised domain is asked for in its A-label form (домен.test).
    expect(await check.verdict('Домен.TEST')).toEqual({ accepts: true });
    expect(dns.queries.some((q) => q.name === 'xn--d1acufc.test' && q.type === 'MX')).toBe(true);
  });

  it('a failing or silent DNS server is no answer: the verdict is unknown, and it is asked again next time', async () => {
    const check = createMailDomainCheck({ servers: [dns.server], timeoutMs: 200 });
    const broken = await check.verdict('broken.test');
    expect(broken.accepts).toBe('unknown');
    const slow = await check.verdict('slow.test');
    expect(slow).toMatchObject({ accepts: 'unknown' });
    const asked = dns.queries.filter((q) => q.name === 'broken.test').length;
    await check.verdict('broken.test');
    expect(dns.queries.filter((q) => q.name === 'broken.test').length).toBeGreaterThan(asked);
  });

  it('keeps answers: refusals for ten minutes, acceptances for an hour; concurrent asks share one lookup', async () => {
    let now = 1_000_000;
    const check = createMailDomainCheck({ servers: [dns.server], timeoutMs: 300, now: () => now });
    const count = (name: string) => dns.queries.filter((q) => q.name === name).length;
    const before = { mx: count('mx.test'), none: count('gone.test') };
    await Promise.all([check.verdict('mx.test'), check.verdict('mx.test'), check.verdict('MX.test.')]);
    await check.verdict('gone.test');
    expect(count('mx.test') - before.mx).toBe(1);
    now += 9 * 60_000;
    await check.verdict('mx.test');
    await check.verdict('gone.test');
    expect(count('mx.test') - before.mx).toBe(1);
    expect(count('gone.test') - before.none).toBe(1);
    now += 2 * 60_000; // refusal expired, acceptance not
    await check.verdict('mx.test');
    await check.verdict('gone.test');
    expect(count('mx.test') - before.mx).toBe(1);
    expect(count('gone.test') - before.none).toBe(2);
    now += 60 * 60_000;
    await check.verdict('mx.test');
    expect(count('mx.test') - before.mx).toBe(2);
  });
});
