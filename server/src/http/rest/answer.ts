/** One-click answers from notification e-mails: signed, expiring, single-purpose links; no sign-in. */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../app/context.js';
import { verifyToken } from '../../domain/auth/secrets.js';
import { respond } from '../../app/events/commands.js';
import * as principals from '../../store/principals.js';
import { DomainError } from '../../domain/errors.js';
import { escapeHtml } from '../../integrations/mail/index.js';

const TEXT = {
  en: { ACCEPTED: 'You accepted', TENTATIVE: 'You answered maybe', DECLINED: 'You declined', bad: 'This link is invalid or has expired.', gone: 'This event no longer exists or was cancelled.', open: 'Open the calendar' },
  ru: { ACCEPTED: 'Вы приняли приглашение', TENTATIVE: 'Вы ответили «возможно»', DECLINED: 'Вы отклонили приглашение', bad: 'Ссылка недействительна или устарела.', gone: 'Событие удалено или отменено.', open: 'Открыть календарь' },
};

function page(lang: 'en' | 'ru', title: string, body: string) {
  return `<!doctype html><html lang="${lang}"><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escapeHtml(title)}</title>
<body style="font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#111"><h1 style="font-size:1.4rem">${escapeHtml(title)}</h1>${body}<p><a href="/">${escapeHtml(TEXT[lang].open)}</a></p></body></html>`;
}

export async function answerRoutes(app: FastifyInstance, ctx: AppContext) {
  app.get('/answer', { config: { auth: 'none' }, schema: { tags: ['events'], summary: 'Answer from an e-mail link', querystring: Type.Object({ t: Type.String({ maxLength: 2000 }) }) } }, async (req, reply) => {
    const tok = verifyToken<{ u: string; o: string; p: 'ACCEPTED' | 'TENTATIVE' | 'DECLINED' }>(ctx.secret, 'answer', (req.query as { t: string }).t);
    const lang: 'en' | 'ru' = String(req.headers['accept-language'] ?? '').toLowerCase().startsWith('ru') ? 'ru' : 'en';
    reply.type('text/html; charset=utf-8').header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'");
    if (!tok || !['ACCEPTED', 'TENTATIVE', 'DECLINED'].includes(tok.p)) return reply.status(400).send(page(lang, TEXT[lang].bad, ''));
    const user = await principals.findPrincipalById(ctx.db, tok.u);
    if (!user || user.disabled) return reply.status(400).send(page(lang, TEXT[lang].bad, ''));
    const l = user.language;
    try {
      const row = await respond(ctx, { userId: user.id, email: user.email, via: 'mail' }, tok.o, { partstat: tok.p });
      return reply.send(page(l, TEXT[l][tok.p], `<p>${escapeHtml(row.summary)}</p>`));
    } catch (e) {
      if (e instanceof DomainError) return reply.status(e.code === 'NOT_FOUND' ? 404 : 409).send(page(l, TEXT[l].gone, ''));
      throw e;
    }
  });
}
