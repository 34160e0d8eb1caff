// A light SMTP sink for the mail benchmarks: keeps Message-ID, recipients and arrival time only.
import { SMTPServer } from 'smtp-server';

export async function startSink() {
  const messages = [];
  const server = new SMTPServer({
    disableReverseLookup: true, authOptional: true, disabledCommands: ['STARTTLS'], hideSTARTTLS: true, logger: false,
    onData(stream, session, cb) {
      const chunks = [];
      stream.on('data', (c) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        const end = raw.indexOf('\r\n\r\n');
        const head = raw.subarray(0, end < 0 ? 16384 : end).toString('latin1').replace(/\r\n[ \t]+/g, ' ');
        const messageId = /^Message-ID:[ \t]*(.*)$/im.exec(head)?.[1]?.trim() ?? '';
        messages.push({ messageId, to: session.envelope.rcptTo.map((r) => r.address), at: Date.now(), size: raw.length });
        cb(null, 'Ok');
      });
    },
  });
  server.on('error', () => {});
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.server.address().port;
  return {
    port, url: `smtp://127.0.0.1:${port}`, messages,
    async waitFor(pred, timeoutMs, what) {
      const until = Date.now() + timeoutMs;
      while (!pred()) {
        if (Date.now() > until) throw new Error(`sink: ${what} not reached in ${timeoutMs} ms (${messages.length} messages)`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () => new Promise((r) => server.close(r)),
  };
}
