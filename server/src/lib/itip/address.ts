import ICAL from 'ical.js';

/**
 * Calendar user addresses compare case-insensitively after dropping the `mailto:` scheme
 * (RFC 6638 §3.1 leaves the comparison to the server; every peer lower-cases e-mail addresses).
 * Clients write `MAILTO:`, `mailto:` and `Mailto:`; some pad the value with spaces.
 */
export function normalizeAddress(value: string | null | undefined): string {
  if (!value) return '';
  let v = String(value).trim();
  if (/^mailto:/i.test(v)) v = v.slice(7).trim();
  // Outlook occasionally wraps the address in angle brackets or quotes.
  v = v.replace(/^[<"']+|[>"']+$/g, '').trim();
  return v.toLowerCase();
}

/** True when the value is a usable e-mail calendar address (RFC 6638 §3.1 mailto:). */
export function isDeliverableAddress(value: string): boolean {
  const a = normalizeAddress(value);
  return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(a);
}

/**
 * The address of an ORGANIZER/ATTENDEE property. The EMAIL parameter (RFC 7986 §6.9) wins when
 * the value is not a mailto: URI (Apple and Google send `urn:uuid:` values with EMAIL=).
 */
export function propAddress(prop: ICAL.Property): string {
  const value = String(prop.getFirstValue() ?? '');
  const email = prop.getParameter('email');
  if (!/^mailto:/i.test(value.trim()) && typeof email === 'string' && email) {
    return normalizeAddress(email);
  }
  return normalizeAddress(value);
}

/** Every address a property answers to: its value, its EMAIL parameter. */
export function propAddresses(prop: ICAL.Property): string[] {
  const out = new Set<string>([normalizeAddress(String(prop.getFirstValue() ?? ''))]);
  const email = prop.getParameter('email');
  if (typeof email === 'string' && email) out.add(normalizeAddress(email));
  out.delete('');
  return [...out];
}

export function sameAddress(prop: ICAL.Property, address: string): boolean {
  return propAddresses(prop).includes(normalizeAddress(address));
}

/** SENT-BY of an ORGANIZER (RFC 5545 §3.2.18), normalised, or ''. */
export function sentBy(prop: ICAL.Property): string {
  const s = prop.getParameter('sent-by');
  return typeof s === 'string' ? normalizeAddress(s) : '';
}
