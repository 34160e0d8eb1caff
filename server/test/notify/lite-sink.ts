// A light SMTP sink on loopback for the reliability tests and benchmarks: keeps only the
// Message-ID, envelope and arrival time of each message (no MIME parsing, so it keeps up with
// thousands of messages a second), and can go down (connections cut, port refused) and come
// back on the same port.
import type { AddressInfo, Socket } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface LiteMessage { messageId: string; to: string[]; at: number; size: number; raw?: Buffer }

export interface LiteSink {
  readonly port: number;
  readonly url: string;
  readonly messages: LiteMessage[];
  /** Message-ID → how many times it arrived. */
  readonly counts: Map<string, number>;
  up: boolean;
  down(): Promise<void>;
  start(): Promise<void>;
  waitFor(pred: () => boolean, timeoutMs: number, what?: string): Promise<void>;
  close(): Promise<void>;
}

export function headerValue(raw: Buffer, name: string): string | null {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end < 0 ? Math.min(raw.length, 16384) : end).toString('latin1').replace(/\r\n[ \t]+/g, ' ');
  const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(head);
  return m ? m[1].trim() : null;
}

export async function startLiteSink(opts: { keepRaw?: boolean; port?: number } = {}): Promise<LiteSink> {
  const messages: LiteMessage[] = [];
  const counts = new Map<string, number>();
  const sockets = new Set<Socket>();
  let server: SMTPServer | null = null;
  let port = opts.port ?? 0;

  const make = () => new SMTPServer({
    disableReverseLookup: true, authOptional: true, disabledCommands: ['STARTTLS'], hideSTARTTLS: true, logger: false,
    onAuth(_a, _s, cb) { cb(null, { user: 'sink' }); },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        const messageId = headerValue(raw, 'Message-ID') ?? '';
        counts.set(messageId, (counts.get(messageId) ?? 0) + 1);
        messages.push({ messageId, to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()), at: Date.now(), size: raw.length, ...(opts.keepRaw ? { raw } : {}) });
        cb(null, 'Ok: kept');
      });
    },
  });

  const sink: LiteSink = {
    get port() { return port; },
    get url() { return `smtp://127.0.0.1:${port}`; },
    messages, counts, up: false,
    async start() {
      if (sink.up) return;
      server = make();
      server.on('error', () => {});
      server.server.on('connection', (s: Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
      await new Promise<void>((resolve, reject) => {
        server!.server.once('error', reject);
        server!.listen(port, '127.0.0.1', () => resolve());
      });
      port = (server.server.address() as AddressInfo).port;
      sink.up = true;
    },
    async down() {
      if (!server) return;
      const s = server;
      server = null;
      sink.up = false;
      const closed = new Promise<void>((r) => s.server.close(() => r()));
      for (const c of sockets) c.destroy();
      sockets.clear();
      await closed;
    },
    async waitFor(pred, timeoutMs, what = 'condition') {
      const until = Date.now() + timeoutMs;
      while (!pred()) {
        if (Date.now() > until) throw new Error(`lite-sink: ${what} not met within ${timeoutMs} ms (${messages.length} messages, ${counts.size} distinct)`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    close: () => sink.down(),
  };
  await sink.start();
  return sink;
}
