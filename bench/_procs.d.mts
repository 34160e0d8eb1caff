/** A process and its direct children (Linux /proc). */
export function withChildren(pid: number): number[];
