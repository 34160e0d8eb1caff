// The embedded PostgreSQL's Unix socket folder (store/embedded.ts): used only where the kernel
// and PostgreSQL's setting can take the path; otherwise Calendula stays on TCP.
import { describe, expect, it } from 'vitest';
import { socketDirFor } from '../../src/store/embedded.js';

describe('socketDirFor', () => {
  it('uses the data folder of the cluster when the socket path fits', () => {
    expect(socketDirFor('/var/lib/calendula/pg', 54321)).toBe('/var/lib/calendula/pg');
  });
  it('falls back to TCP when the socket path would be longer than sun_path allows', () => {
    const dir = `/tmp/${'d'.repeat(90)}/pg`;
    expect(`${dir}/.s.PGSQL.54321`.length).toBeGreaterThan(107);
    expect(socketDirFor(dir, 54321)).toBeNull();
  });
  it('falls back to TCP for paths unix_socket_directories could misread (commas, spaces, quotes)', () => {
    expect(socketDirFor('/srv/a,b/pg', 5433)).toBeNull();
    expect(socketDirFor('/srv/my data/pg', 5433)).toBeNull();
    expect(socketDirFor("/srv/o'brien/pg", 5433)).toBeNull();
  });
});
