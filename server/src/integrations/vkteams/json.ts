// JSON.parse that never loses digits: an integer literal outside Number's safe range (a VK Teams
// msgId such as 7513183580768441700 sent as a bare number) is turned into a string holding exactly
// the digits from the wire, before JSON.parse sees it. Strings are skipped with their escapes, so
// digits inside text are never touched.

export function parseJsonPreservingBigInts(text: string): unknown {
  return JSON.parse(quoteUnsafeIntegers(text));
}

export function quoteUnsafeIntegers(text: string): string {
  let out = '';
  let last = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 92 /* \ */) i += 2;
        else if (d === 34) { i++; break; } else i++;
      }
      continue;
    }
    if (c === 45 /* - */ || (c >= 48 && c <= 57)) {
      const start = i;
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if ((d >= 48 && d <= 57) || d === 46 || d === 101 || d === 69 || d === 43 || d === 45) i++;
        else break;
      }
      const lit = text.slice(start, i);
      if (/^-?\d+$/.test(lit) && !Number.isSafeInteger(Number(lit))) {
        out += text.slice(last, start) + '"' + lit + '"';
        last = i;
      }
      continue;
    }
    i++;
  }
  return last === 0 ? text : out + text.slice(last);
}
