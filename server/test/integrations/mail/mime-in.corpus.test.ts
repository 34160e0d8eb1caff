// Every shared iMIP corpus file goes through extractCalendarParts; expectations written per file
// after reading each one (see ../shared/corpus/MANIFEST.tsv for where they come from).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ICAL from 'ical.js';
import { describe, expect, it } from 'vitest';
import { extractCalendarParts, type InboundMail } from '../../../src/integrations/mail/mime-in.js';

const CORPUS = '../shared/corpus';

interface Expect {
  methods: (string | null)[];
  uid?: string;
  messageId: string;
  errors?: RegExp;
  extra?: (m: InboundMail) => void;
}

const organizer = (ical: string) =>
  String(new ICAL.Component(ICAL.parse(ical) as unknown[]).getFirstSubcomponent('vevent')!.getFirstPropertyValue('organizer'));

const expected: Record<string, Expect> = {
  'imip/apple-mail-ical3-reply-qp.eml': {
    methods: ['REPLY'],
    uid: '1E71F9C8-AEDA-48EB-98D0-76E898F6BB5C',
    messageId: '<1983F777-BE86-4B98-881E-06D938E60920@example.com>',
    extra: (m) => {
      // QP soft breaks inside an iCal fold: the ORGANIZER address must come back whole.
      expect(organizer(m.parts[0].ical)).toBe('mailto:ical-living-on+d7cdf68d-8b73-4df1-ad3b-f08002fb285f@example.com');
      expect(m.parts[0].methodParam).toBeNull();
      expect(m.parts[0].source).toBe('attachment');
    },
  },
  'imip/dsn-bounce-no-original.eml': {
    methods: [],
    messageId: '<20080812191940.15BA528084@relay11.example.com>',
    extra: (m) => {
      expect(m.dsn).toMatchObject({ action: 'failed', status: '5.0.0', recipient: 'nonexistant@example.com' });
      expect(m.dsn?.diagnostic).toMatch(/5\.1\.1 unknown or illegal alias/);
      expect(m.dsn?.originalMessageId).toBeUndefined();
      expect(m.dsn?.originalIcal).toBeUndefined();
    },
  },
  'imip/dsn-bounce-with-original-invite.eml': {
    // The returned REQUEST must not surface as a new invitation.
    methods: [],
    messageId: '<20080812191940.15BA528084@relay11.example.com>',
    extra: (m) => {
      expect(m.dsn).toMatchObject({
        action: 'failed',
        status: '5.0.0',
        recipient: 'nonexistant@example.com',
        originalMessageId: '<20080812191939.51369.1538816694.0@plugh.example.com>',
        originalMethod: 'REQUEST',
      });
      expect(m.dsn?.originalIcal).toMatch(/^UID:1E71F9C8-AEDA-48EB-98D0-76E898F6BB5C\r$/m);
    },
  },
  'imip/google-calendar-invite-2008-with-banner.eml': {
    // text/calendar inline + identical application/ics copy: merged into one part.
    methods: ['REQUEST'],
    uid: 'i12ksc4hr5uud1gs9dsos1ipj8@google.com',
    messageId: '<f470f68e0803111153w2262a775sdefc8c423c5d5c95@mail.gmail.com>',
    extra: (m) => {
      expect(m.parts[0]).toMatchObject({ methodParam: 'REQUEST', source: 'inline', filename: 'invite.ics' });
      expect(m.from?.address).toBe('robertburrelldonkin@gmail.com');
    },
  },
  'imip/google-calendar-invite-forwarded.eml': {
    // The forwarded text/calendar (no method param) and the application/ics copy differ
    // (the organizer address was edited), so both are kept; METHOD comes from the body.
    methods: ['REQUEST', 'REQUEST'],
    uid: 'ah86k5m342bmcrbe9khkkhln00@google.com',
    messageId: '<f18fa52e-2e9d-1125-327d-2100b23f8a6b@linagora.com>',
    extra: (m) => {
      expect(m.parts.map((p) => p.methodParam)).toEqual([null, null]);
      expect(m.parts.map((p) => p.contentType)).toEqual(['text/calendar', 'application/ics']);
      expect(m.parts[1].uid).toBe('ah86k5m342bmcrbe9khkkhln00@google.com');
      expect(m.to[0]).toEqual({ address: 'tellier@linagora.com', name: 'Benoît TELLIER' });
    },
  },
  'imip/openpaas-invite-nodemailer-crlf.eml': {
    methods: ['REQUEST'],
    uid: 'd41ce126-5e9c-45a6-a979-4bc5db77914e',
    messageId: '<1467732822125-f0c14587-1cd7b923-0d50a279@linagora.com>',
    extra: (m) => expect(m.parts[0].source).toBe('inline'),
  },
  'imip/thunderbird-lightning-reply.eml': {
    // The whole message is one text/calendar body.
    methods: ['REPLY'],
    uid: 'f1514f44bf39311568d6407249cb76c48103fcd1fb398c3c501cb72b2d293f36e04b2aab16e43439a608f28671ab7c10e754cbc85ddee4a07fa8cf8f4f7af05bfb502b8f6',
    messageId: '<2d0fa16c-4c37-58de-1acc-50b5f6a23a60@localhost.com>',
  },
  'imip/yandex-calendar-invite-no-method-param.eml': {
    methods: ['REQUEST'],
    uid: '141zhi60x8914s7bzxzq27i0syandex.ru',
    messageId: '<ee4061b8-54ff-48f0-b816-3bef329be30d@calendar.yandex.ru>',
    extra: (m) => {
      expect(m.parts[0].methodParam).toBeNull();
      expect(m.parts[0].ical).toContain('CATEGORIES:Мои события');
      expect(m.parts[0].ical).toContain('CN="Попов');
      expect(m.authResults).toMatchObject({ dkim: 'pass' });
      expect(m.authResults?.authservIds[0]).toMatch(/yandex\.net$/);
      expect(m.from).toEqual({ address: 'info@calendar.yandex.ru', name: 'Попов Иван' });
      expect(m.replyTo?.address).toBe('ipopov@citc.ru');
    },
  },
  'malformed/imip/exchange-counter-garbage-body.eml': {
    methods: [],
    messageId: '<AM5P190MB03542A58E344C68475A951AFD20@AM5P190MB0354.EURP190.PROD.OUTLOOK.COM>',
    errors: /does not parse/,
  },
  'malformed/imip/imip-reply-missing-attachment.eml': {
    methods: [],
    messageId: '<1983F777-BE86-4B98-881E-06D938E60920@example.com>',
  },
  'malformed/imip/imip-reply-missing-attendee.eml': {
    // MIME-wise fine; the missing ATTENDEE is for iTIP processing to reject.
    methods: ['REPLY'],
    uid: '1E71F9C8-AEDA-48EB-98D0-76E898F6BB5C',
    messageId: '<1983F777-BE86-4B98-881E-06D938E60920@example.com>',
    extra: (m) => expect(m.parts[0].ical).not.toMatch(/^ATTENDEE/m),
  },
  'malformed/imip/thunderbird-reply-ics-in-headers.eml': {
    methods: [],
    messageId: '<82eb227b-d3e1-3d7a-3220-8a1b4e96a85b@linagora.com>',
    errors: /no VCALENDAR/,
  },
};

const files = ['imip', 'malformed/imip'].flatMap((dir) =>
  readdirSync(join(CORPUS, dir))
    .filter((f) => f.endsWith('.eml'))
    .map((f) => `${dir}/${f}`),
);

describe('extractCalendarParts over the shared iMIP corpus', () => {
  it('has an expectation for every corpus file', () => {
    expect(files.sort()).toEqual(Object.keys(expected).sort());
  });

  for (const file of files) {
    it(file, async () => {
      const exp = expected[file];
      const raw = readFileSync(join(CORPUS, file));
      const m = await extractCalendarParts(raw);
      expect(m.messageId).toBe(exp.messageId);
      expect(m.parts.map((p) => p.method)).toEqual(exp.methods);
      if (exp.uid) for (const p of m.parts) expect(p.uid).toBe(exp.uid);
      for (const p of m.parts) {
        expect(() => ICAL.parse(p.ical)).not.toThrow();
        expect(p.ical).not.toMatch(/\r(?!\n)|(?<!\r)\n/);
      }
      if (exp.errors) expect(m.errors.join('\n')).toMatch(exp.errors);
      else expect(m.errors).toEqual([]);
      if (file.startsWith('malformed/')) expect(m.errors.length > 0 || m.parts.length === 0 || exp.methods.length > 0).toBe(true);
      exp.extra?.(m);
    });

    it(`${file} with CR-only line ends`, async () => {
      const raw = readFileSync(join(CORPUS, file)).toString('latin1').replace(/\r?\n/g, '\r');
      const m = await extractCalendarParts(Buffer.from(raw, 'latin1'));
      expect(m.parts.map((p) => p.method)).toEqual(expected[file].methods);
      expect(m.messageId).toBe(expected[file].messageId);
    });
  }
});
