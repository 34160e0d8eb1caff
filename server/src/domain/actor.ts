/**
 * Who acts, and through which entry point. Every domain command takes one: it goes into the
 * audit log, decides permissions, and lets Exchange sync recognise its own writes (loop prevention).
 */
export type EntryPoint = 'web' | 'rest' | 'caldav' | 'bot' | 'mail' | 'exchange' | 'import' | 'cli' | 'system' | 'scheduler';

export interface Actor {
  userId: string | null;
  email?: string;
  isAdmin?: boolean;
  via: EntryPoint;
  /** API-token scopes; undefined means a full session. */
  scopes?: string[];
  requestId?: string;
}

export const systemActor = (via: EntryPoint = 'system'): Actor => ({ userId: null, via, isAdmin: true });
