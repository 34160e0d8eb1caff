// A minimal HTTP/1.1 client for sequential benchmark requests: one keep-alive TCP socket, the
// request written as one buffer, the response read by Content-Length or chunked transfer coding.
// It exists because the load generator shares this machine's two vCPUs with the server: node:http's
// client (parser, agent, streams and events per request) costs ~0.5 ms of CPU per request here,
// undici's fetch ~2 ms, which is CPU taken from the server under test and latency added to every
// sequential request. A C load generator (wrk, h2load) would cost about what this does; it only
// handles what the benches send and get (no pipelining, no 1xx, no trailers, no HEAD).
import http from 'node:http';
import net from 'node:net';

const CRLF2 = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);

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
  /**
   * The request in flight and its response as it arrives (parsed incrementally: the body's bytes
   * are kept as the socket's own chunks and joined once, so a megabyte answer costs one copy).
   * @type {null | { resolve: (r: {status:number,text:string}) => void, reject: (e: Error) => void, sock: net.Socket,
   *   pending: Buffer, status: number, mode: '' | 'length' | 'chunked' | 'close', need: number, left: number, crlf: boolean,
   *   parts: Buffer[], got: number, closeAfter: boolean }}
   */
  let w = null;

  /** Fails the request in flight if it was sent on socket `s` (an old socket's late close is ignored). */
  const fail = (s, err) => {
    if (!w || w.sock !== s) return;
    const x = w;
    w = null;
    x.reject(err);
  };

  const finish = () => {
    const x = w;
    w = null;
    if (x.closeAfter) x.sock.destroy();
    x.resolve({ status: x.status, text: (x.parts.length === 1 ? x.parts[0] : Buffer.concat(x.parts, x.got)).toString('utf8') });
  };

  /** The head: status, framing (RFC 9112 §6.3) and whether the server closes after this answer. */
  function head(text) {
    w.status = Number(text.slice(9, 12));
    const cl = /\r\ncontent-length:[ \t]*(\d+)/i.exec(text);
    w.closeAfter = /\r\nconnection:[ \t]*close/i.test(text) || (text.startsWith('HTTP/1.0') && !/\r\nconnection:[ \t]*keep-alive/i.test(text));
    if (cl) { w.mode = 'length'; w.need = Number(cl[1]); }
    else if (/\r\ntransfer-encoding:[ \t]*chunked/i.test(text)) w.mode = 'chunked';
    else if (w.status === 204 || w.status === 304) { w.mode = 'length'; w.need = 0; }
    else w.mode = 'close'; // the body runs until the server closes the connection
  }

  function onData(chunk) {
    if (!w) return;
    if (!w.mode) {
      w.pending = w.pending.length ? Buffer.concat([w.pending, chunk]) : chunk;
      const he = w.pending.indexOf(CRLF2);
      if (he < 0) return;
      head(w.pending.toString('latin1', 0, he));
      chunk = w.pending.subarray(he + 4);
      w.pending = EMPTY;
      if (w.mode === 'length' && w.need === 0) return finish();
    }
    if (w.mode === 'length') {
      const take = chunk.subarray(0, w.need - w.got);
      if (take.length) { w.parts.push(take); w.got += take.length; }
      if (w.got >= w.need) finish();
    } else if (w.mode === 'close') {
      if (chunk.length) { w.parts.push(chunk); w.got += chunk.length; }
    } else {
      chunked(chunk);
    }
  }

  /** Chunked transfer coding (RFC 9112 §7.1): data is sliced out of the chunks, framing parsed from a small remainder. */
  function chunked(chunk) {
    let b = w.pending.length ? Buffer.concat([w.pending, chunk]) : chunk;
    for (;;) {
      if (w.left > 0) {
        const take = b.subarray(0, w.left);
        if (take.length) { w.parts.push(take); w.got += take.length; w.left -= take.length; }
        b = b.subarray(take.length);
        if (w.left > 0) { w.pending = EMPTY; return; }
        w.crlf = true;
      }
      if (w.crlf) {
        if (b.length < 2) { w.pending = b; return; }
        b = b.subarray(2);
        w.crlf = false;
      }
      const le = b.indexOf('\r\n');
      if (le < 0) { w.pending = b; return; }
      const size = parseInt(b.toString('latin1', 0, le), 16);
      b = b.subarray(le + 2);
      if (size === 0) { w.pending = EMPTY; return finish(); } // trailers and the last CRLF are not waited for
      w.left = size;
    }
  }

  function open() {
    const s = net.connect({ host, port });
    s.setNoDelay(true);
    s.on('data', (chunk) => { if (w?.sock === s) onData(chunk); });
    s.on('error', (e) => { if (sock === s) sock = null; fail(s, e); });
    s.on('close', () => {
      if (sock === s) sock = null;
      if (w?.sock === s && w.mode === 'close') return finish();
      fail(s, Object.assign(new Error('connection closed'), { code: 'ECONNRESET' }));
    });
    sock = s;
    return s;
  }

  function once(method, path, headers, body) {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? null : Buffer.from(body);
      let text = `${method} ${path} HTTP/1.1\r\n${hostHeader}`;
      for (const [k, v] of Object.entries(headers ?? {})) text += `${k}: ${v}\r\n`;
      if (payload) text += `Content-Length: ${payload.length}\r\n`;
      text += '\r\n';
      const s = sock && !sock.destroyed ? sock : open();
      w = { resolve, reject, sock: s, pending: EMPTY, status: 0, mode: '', need: 0, left: 0, crlf: false, parts: [], got: 0, closeAfter: false };
      s.write(payload ? Buffer.concat([Buffer.from(text, 'latin1'), payload]) : Buffer.from(text, 'latin1'));
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

/**
 * node:http's client with a keep-alive Agent behind the same interface (BENCH_HTTP_CLIENT=node: to
 * compare with the old measurements). A request on a reused socket that the server closed as idle
 * meanwhile is sent again, once.
 */
export function nodeHttpPool(base) {
  const u = new URL(base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const send = (method, path, headers, body, retried = false) => new Promise((resolve, reject) => {
    const buf = body === undefined ? undefined : Buffer.from(body);
    const req = http.request({ host: u.hostname, port: u.port, path, method, headers: buf ? { ...headers, 'content-length': buf.length } : headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', (e) => (!retried && req.reusedSocket && e.code === 'ECONNRESET' ? send(method, path, headers, body, true).then(resolve, reject) : reject(e)));
    req.end(buf);
  });
  return { request: (method, path, headers, body) => send(method, path, headers, body), close: () => agent.destroy() };
}

/**
 * The benches' client for `base` (an origin): rawHttpPool, or nodeHttpPool with
 * BENCH_HTTP_CLIENT=node. `request(method, pathAndQuery, headers, body)` → { status, text }; one
 * that gets no answer within `timeoutMs` fails.
 */
export function benchHttpClient(base, { timeoutMs = 120_000 } = {}) {
  const c = (process.env.BENCH_HTTP_CLIENT ?? 'raw') === 'node' ? nodeHttpPool(base) : rawHttpPool(base);
  return {
    request(method, path, headers, body) {
      let timer;
      const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)), timeoutMs); });
      return Promise.race([c.request(method, path, headers, body), timeout]).finally(() => clearTimeout(timer));
    },
    close: () => c.close(),
  };
}
