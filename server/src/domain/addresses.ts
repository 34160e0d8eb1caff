/** Address syntax (RFC 5321 §4.1.2 / RFC 5322 §3.4.1, the practical subset mail systems accept). */
const LOCAL = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

export function normalizeEmail(raw: string): string {
  return raw.trim().replace(/^mailto:/i, '').toLowerCase();
}

export function isValidEmail(raw: string): boolean {
  const e = raw.trim();
  if (e.length > 254) return false;
  const at = e.lastIndexOf('@');
  if (at < 1 || at === e.length - 1) return false;
  const local = e.slice(0, at);
  const domain = e.slice(at + 1);
  if (local.length > 64 || !LOCAL.test(local)) return false;
  const labels = domain.split('.');
  // Internationalised domains arrive as U-labels from people; accept letters beyond ASCII too.
  return labels.length >= 1 && labels.every((l) => LABEL.test(l) || /^[\p{L}\p{N}-]{1,63}$/u.test(l));
}

export function domainOf(email: string): string {
  return normalizeEmail(email).split('@')[1] ?? '';
}

export function isInternal(email: string, ownDomains: string[]): boolean {
  const d = domainOf(email);
  return ownDomains.some((od) => od.toLowerCase() === d);
}
