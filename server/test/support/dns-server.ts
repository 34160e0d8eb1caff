/**
 * A DNS server on loopback (UDP) for the tests of the mail-domain check: answers from a zone
 * table, as an authoritative server would (RFC 1035 §4.1; dns-packet encodes and decodes).
 *   - a name in the table: NOERROR with its records of the asked type (none: NODATA);
 *   - a name marked 'servfail': SERVFAIL; 'silent': no answer at all (the client times out);
 *   - any other name: NXDOMAIN.
 * Records the queries it received, so a test can see what was asked and how often.
 */
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import * as packet from 'dns-packet';

export type ZoneEntry = { MX?: { preference: number; exchange: string }[]; A?: string[]; AAAA?: string[]; TXT?: string[] } | 'servfail' | 'silent';

export interface TestDnsServer {
  /** "127.0.0.1:port", for CALENDULA_DNS_SERVERS. */
  server: string;
  queries: { name: string; type: string }[];
  close(): Promise<void>;
}

export async function startDnsServer(zone: Record<string, ZoneEntry>): Promise<TestDnsServer> {
  const sock = createSocket('udp4');
  const queries: { name: string; type: string }[] = [];
  sock.on('message', (msg, rinfo) => {
    let q: packet.Packet;
    try {
      q = packet.decode(msg);
    } catch {
      return;
    }
    const question = q.questions?.[0];
    if (!question) return;
    const name = question.name.toLowerCase().replace(/\.$/, '');
    queries.push({ name, type: question.type });
    const entry = zone[name];
    if (entry === 'silent') return;
    let rcode: 'NOERROR' | 'NXDOMAIN' | 'SERVFAIL' = 'NOERROR';
    const answers: packet.Answer[] = [];
    if (entry === undefined) rcode = 'NXDOMAIN';
    else if (entry === 'servfail') rcode = 'SERVFAIL';
    else if (question.type === 'MX') for (const r of entry.MX ?? []) answers.push({ type: 'MX', name: question.name, ttl: 60, data: { preference: r.preference, exchange: r.exchange } });
    else if (question.type === 'A') for (const a of entry.A ?? []) answers.push({ type: 'A', name: question.name, ttl: 60, data: a });
    else if (question.type === 'AAAA') for (const a of entry.AAAA ?? []) answers.push({ type: 'AAAA', name: question.name, ttl: 60, data: a });
    const reply = packet.encode({
      type: 'response', id: q.id, flags: packet.AUTHORITATIVE_ANSWER | (q.flags ?? 0) & packet.RECURSION_DESIRED | rcodeFlag(rcode),
      questions: q.questions, answers,
    });
    sock.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  const port = (sock.address() as AddressInfo).port;
  return {
    server: `127.0.0.1:${port}`,
    queries,
    close: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  };
}

/** The RCODE in the low four bits of the flags (RFC 1035 §4.1.1). */
function rcodeFlag(rcode: 'NOERROR' | 'NXDOMAIN' | 'SERVFAIL'): number {
  return { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 }[rcode];
}
