// A minimal HTTP/1.1 client for sequential benchmark requests: one keep-alive TCP socket, the
// request written as one buffer, the response read by Content-Length or chunked transfer coding.
// It exists because the load generator shares this machine's two vCPUs with the server: node:http's
// client (parser, agent, streams and events per request) costs ~0.5 ms of CPU per request here,
// undici's fetch ~2 ms, which is CPU taken from the server under test and latency added to every
// sequential request. A C load generator (wrk, h2load) would cost about what this does; it only
// handles what the benches send and get (no pipelining, no 1xx, no trailers, no HEAD).
import net from 'node:net';

const CRLF2 = Buffer.from('\r\n\r\n');

/**
 * A client for `base` (http://host:port). `request(method, pathAndQuery, headers, body)` resolves
 * to { status, text }; one request at a time (callers await each). A socket the server closed
 * while idle is reopened for the next request; a request that dies with its socket is sent again
 * once on a fresh one, as keep-alive clients do.
 */
export function rawHttpClient(base) {
  const u = new URL(base);
  const host = u.hostname;
  const port = Number(u.port || 80);
  const hostHeader = `Host: ${u.host}\r\n`;
  /** @type {net.Socket | null} */
  let sock = null;
  let buf = Buffer.alloc(0);
  /** @type {{ resolve: (r: {status:number,text:string}) => void, reject: (e: Error) => void, sock: net.Socket, untilClose?: boolean } | null} */
  let waiting = null;

  /** Fails the waiting request if it was sent on socket `s` (an old socket's late close is ignored). */
  const fail = (s, err) => {
    if (!waiting || waiting.sock !== s) return;
    const w = waiting;
    waiting = null;
    buf = Buffer.alloc(0);
    w.reject(err);
  };

  function open() {
    const s = net.connect({ host, port });
    s.setNoDelay(true);
    s.on('data', (chunk) => {
      if (sock !== s) return;
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      parse();
    });
    s.on('error', (e) => { if (sock === s) sock = null; fail(s, e); });
    s.on('close', () => {
      if (sock === s) sock = null;
      if (waiting?.sock === s && waiting.untilClose) {
        const he = buf.indexOf(CRLF2);
        const w = waiting;
        waiting = null;
        w.resolve({ status: Number(buf.toString('latin1', 9, 12)), text: buf.toString('utf8', he + 4) });
        buf = Buffer.alloc(0);
        return;
      }
      fail(s, Object.assign(new Error('connection closed'), { code: 'ECONNRESET' }));
    });
    sock = s;
    return s;
  }

  /** Completes the waiting request when its whole response is in `buf`. */
  function parse() {
    if (!waiting) return;
    const he = buf.indexOf(CRLF2);
    if (he < 0) return;
    const head = buf.toString('latin1', 0, he);
    const status = Number(head.slice(9, 12));
    const start = he + 4;
    let body;
    let rest;
    const cl = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
    if (cl) {
      const end = start + Number(cl[1]);
      if (buf.length < end) return;
      body = buf.subarray(start, end);
      rest = buf.subarray(end);
    } else if (/\r\ntransfer-encoding:[ \t]*chunked/i.test(head)) {
      const parts = [];
      let at = start;
      for (;;) {
        const le = buf.indexOf('\r\n', at);
        if (le < 0) return;
        const size = parseInt(buf.toString('latin1', at, le), 16);
        if (size === 0) {
          if (buf.length < le + 4) return; // the final CRLF (no trailers are sent to us)
          rest = buf.subarray(le + 4);
          break;
        }
        if (buf.length < le + 2 + size + 2) return;
        parts.push(buf.subarray(le + 2, le + 2 + size));
        at = le + 2 + size + 2;
      }
      body = Buffer.concat(parts);
    } else if (status === 204 || status === 304) {
      body = Buffer.alloc(0);
      rest = buf.subarray(start);
    } else {
      // Neither: the body runs until the server closes the connection (RFC 9112 §6.3, item 8).
      waiting.untilClose = true;
      return;
    }
    buf = rest.length ? Buffer.from(rest) : Buffer.alloc(0);
    const w = waiting;
    waiting = null;
    // The server closes after this response: an HTTP/1.0 answer without keep-alive, or "close".
    if (/\r\nconnection:[ \t]*close/i.test(head) || (head.startsWith('HTTP/1.0') && !/\r\nconnection:[ \t]*keep-alive/i.test(head))) sock?.destroy();
    w.resolve({ status, text: body.toString('utf8') });
  }

  function once(method, path, headers, body) {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? null : Buffer.from(body);
      let head = `${method} ${path} HTTP/1.1\r\n${hostHeader}`;
      for (const [k, v] of Object.entries(headers ?? {})) head += `${k}: ${v}\r\n`;
      if (payload) head += `Content-Length: ${payload.length}\r\n`;
      head += '\r\n';
      const s = sock && !sock.destroyed ? sock : open();
      waiting = { resolve, reject, sock: s };
      buf = Buffer.alloc(0);
      s.write(payload ? Buffer.concat([Buffer.from(head, 'latin1'), payload]) : Buffer.from(head, 'latin1'));
    });
  }

  return {
    async request(method, path, headers, body) {
      const reused = !!(sock && !sock.destroyed);
      try {
        return await once(method, path, headers, body);
      } catch (e) {
        if (reused && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) return once(method, path, headers, body);
        throw e;
      }
    },
    close() { sock?.destroy(); sock = null; },
  };
}

/**
 * Clients for `base` shared by concurrent callers: a request takes an idle client (one socket
 * each) or opens another, so N callers at once use N sockets.
 */
export function rawHttpPool(base) {
  const idle = [];
  const all = [];
  return {
    async request(method, path, headers, body) {
      let c = idle.pop();
      if (!c) all.push((c = rawHttpClient(base)));
      try {
        return await c.request(method, path, headers, body);
      } finally {
        idle.push(c);
      }
    },
    close() { for (const c of all) c.close(); all.length = 0; idle.length = 0; },
  };
}
