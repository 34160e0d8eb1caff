// Process helpers shared by the benchmarks (Linux /proc).
import { readdirSync, readFileSync } from 'node:fs';

/**
 * A process and its direct children: `calendula start` runs the server as a child when it caps
 * the V8 heap (CALENDULA_HEAP_MB), so CPU and memory must be read from both.
 */
export function withChildren(pid) {
  const out = [pid];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}
