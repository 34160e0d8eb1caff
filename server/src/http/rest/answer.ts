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
  en: {
    ACCEPTED: 'You accepted', TENTATIVE: 'You answered maybe', DECLINED: 'You declined', bad: 'This link is invalid or has expired.',
    gone: 'This event no longer exists.', cancelled: 'This event was cancelled.', organizer: 'You organise this event: there is no invitation to answer.',
    notInvited: 'You are no longer invited to this event.', forbidden: 'You cannot answer in this calendar.',
    retry: 'Your answer could not be saved just now. Please try again in a moment.', open: 'Open the calendar',
  },
  ru: {
    ACCEPTED: 'Вы приняли приглашение', TENTATIVE: 'Вы ответили «возможно»', DECLINED: 'Вы отклонили приглашение', bad: 'Ссылка недействительна или устарела.',
    gone: 'Событие удалено.', cancelled: 'Событие отменено.', organizer: 'Вы организатор этого события: отвечать на приглашение не нужно.',
    notInvited: 'Вы больше не приглашены на это событие.', forbidden: 'Вы не можете отвечать в этом календаре.',
    retry: 'Сейчас не удалось сохранить ответ. Попробуйте ещё раз чуть позже.', open: 'Открыть календарь',
  },
};

type FailureText = 'gone' | 'cancelled' | 'organizer' | 'notInvited' | 'forbidden' | 'retry';

/** The page (and its status) for each way `respond` can refuse: each says what really happened. */
export function answerFailure(e: DomainError): { status: number; text: FailureText } {
  if (e.code === 'NOT_FOUND') return { status: 404, text: 'gone' };
  if (e.code === 'CONFLICT') {
    const reason = e.details?.reason;
    if (reason === 'cancelled') return { status: 409, text: 'cancelled' };
    if (reason === 'organizer') return { status: 409, text: 'organizer' };
    if (reason === 'not-invited') return { status: 409, text: 'notInvited' };
  }
  if (e.code === 'FORBIDDEN' || e.code === 'INSUFFICIENT_SCOPE') return { status: 403, text: 'forbidden' };
  // Anything else (a concurrent change, a lease, a rate limit…) is passing: the answer may be tried again.
  return { status: 409, text: 'retry' };
}

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
      if (e instanceof DomainError) {
        const f = answerFailure(e);
        return reply.status(f.status).send(page(l, TEXT[l][f.text], ''));
      }
      throw e;
    }
  });
}
