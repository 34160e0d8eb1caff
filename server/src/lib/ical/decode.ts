/**
 * Byte → text decoding for iCalendar data of unknown provenance.
 * RFC 5545 §3.1.4 says UTF-8, but real files arrive as UTF-16 (with BOM),
 * windows-1252 or latin1. Line endings are normalised to CRLF-free "\n"-only
 * form later by the parser; here CR-only and mixed endings become "\r\n".
 */

const utf8 = new TextDecoder('utf-8', { fatal: true });
const cp1252 = new TextDecoder('windows-1252');

/** Normalise CR-only, LF-only and mixed line ends to CRLF. */
export function normalizeLineEndings(text: string): string {
  return text.replace(/\r\n|\r|\n/g, '\r\n');
}

/**
 * Decode iCalendar bytes to a string: UTF-8 (BOM stripped), UTF-16LE/BE when a
 * BOM says so, otherwise invalid UTF-8 falls back to windows-1252 (a superset
 * of latin1 for printable characters). Line endings are normalised to CRLF.
 */
export function decodeIcalBytes(buf: Buffer | Uint8Array): string {
  const bytes = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  let text: string;
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe) {
    text = new TextDecoder('utf-16le').decode(bytes.subarray(2));
  } else if (bytes.length >= 2 && bytes[0] === 0xfe && bytes[1] === 0xff) {
    text = new TextDecoder('utf-16be').decode(bytes.subarray(2));
  } else {
    const body =
      bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes;
    try {
      text = utf8.decode(body);
    } catch {
      text = cp1252.decode(body);
    }
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return normalizeLineEndings(text);
}
