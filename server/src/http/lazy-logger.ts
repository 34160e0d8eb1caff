/**
 * Fastify gives every request a child logger bound to its request id. pino's child() serialises
 * the bindings when it is made (~10–20 µs), and most requests never log (the request line is at
 * info, production runs at warn). This child is made on the first call that would write: the same
 * parent, bindings and options, so what is logged does not change.
 */
import type { Bindings, ChildLoggerOptions, Level, Logger } from 'pino';

type Method = (this: unknown, ...args: unknown[]) => void;

export class LazyChildLogger {
  private made?: Logger;

  constructor(private readonly parent: Logger, private readonly bindings: Bindings, private readonly opts: ChildLoggerOptions) {}

  private get logger(): Logger {
    return (this.made ??= this.parent.child(this.bindings, this.opts));
  }

  private write(level: Level, args: unknown[]): void {
    if (this.made ? this.made.isLevelEnabled(level) : this.parent.isLevelEnabled(level)) (this.logger[level] as Method).apply(this.logger, args);
  }

  get level(): string {
    return (this.made ?? this.parent).level;
  }

  set level(level: string) {
    this.logger.level = level;
  }

  isLevelEnabled(level: string): boolean {
    return (this.made ?? this.parent).isLevelEnabled(level);
  }

  fatal(...args: unknown[]) { this.write('fatal', args); }
  error(...args: unknown[]) { this.write('error', args); }
  warn(...args: unknown[]) { this.write('warn', args); }
  info(...args: unknown[]) { this.write('info', args); }
  debug(...args: unknown[]) { this.write('debug', args); }
  trace(...args: unknown[]) { this.write('trace', args); }
  silent() {}

  child(bindings: Bindings, opts?: ChildLoggerOptions): Logger {
    return this.logger.child(bindings, opts);
  }
}
