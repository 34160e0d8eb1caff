import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../app/context.js';
import { attachmentFor, attachmentUrl, blobStore, deleteAttachment, uploadAttachment } from '../../app/attachments.js';
import { IdParams, errors } from './schemas.js';
import { actorOf } from '../auth.js';
import { DomainError, invalid } from '../../domain/errors.js';

const Att = Type.Object({ id: Type.String(), filename: Type.String(), size: Type.Number(), contentType: Type.String(), url: Type.String() });

function disposition(name: string) {
  return `attachment; filename="${name.replace(/[^\x20-\x7e]|["\\]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

export async function attachmentRoutes(app: FastifyInstance, ctx: AppContext) {
  const multipart = (await import('@fastify/multipart')).default;
  // One byte over the limit: the blob store must see the overflow and refuse it (413 TOO_LARGE);
  // at exactly the limit multipart truncated silently and the cut-off file was kept.
  await app.register(multipart, { limits: { fileSize: ctx.config.attachmentMaxBytes + 1, files: 1, fields: 5 } });

  app.post('/attachments', { schema: { tags: ['attachments'], summary: 'Upload a file (multipart field "file"); link it into an event by id', consumes: ['multipart/form-data'], response: { 201: Att, ...errors(400, 401, 413) } } }, async (req, reply) => {
    const actor = actorOf(req);
    if (!req.isMultipart()) throw invalid('Upload the file as multipart/form-data in the field "file"');
    const file = await req.file();
    if (!file) throw invalid('No file in the upload');
    const row = await uploadAttachment(ctx, actor, { filename: file.filename, contentType: file.mimetype, stream: file.file });
    if (file.file.truncated) {
      await ctx.db.deleteFrom('attachment').where('owner_id', '=', actor.userId!).where('id', '=', row.id).execute();
      await blobStore(ctx).remove(row.storage_key);
      throw new DomainError('TOO_LARGE', `Attachments can be at most ${Math.round(ctx.config.attachmentMaxBytes / 1048576)} MB`);
    }
    return reply.status(201).send({ id: row.id, filename: row.filename, size: Number(row.size), contentType: row.content_type, url: attachmentUrl(ctx, row.id) });
  });

  app.get('/attachments/:id', { schema: { tags: ['attachments'], summary: 'Download (the uploader and participants of events that use it)', params: IdParams } }, async (req, reply) => {
    const att = await attachmentFor(ctx, actorOf(req), (req.params as { id: string }).id);
    const body = await blobStore(ctx).get(att.storage_key);
    return reply.type(att.content_type).header('content-disposition', disposition(att.filename)).header('x-content-type-options', 'nosniff')
      .header('content-security-policy', "default-src 'none'; sandbox").send(body);
  });

  app.delete('/attachments/:id', { schema: { tags: ['attachments'], summary: 'Delete an unused attachment of mine', params: IdParams, response: { 204: Type.Null(), ...errors(401, 404, 409) } } }, async (req, reply) => {
    await deleteAttachment(ctx, actorOf(req), (req.params as { id: string }).id);
    return reply.status(204).send();
  });
}

/** Expiring signed links for people without an account: /files/:id?t=… */
export async function publicFileRoutes(app: FastifyInstance, ctx: AppContext) {
  app.get('/files/:id', { config: { auth: 'none' }, schema: { hide: true, params: IdParams, querystring: Type.Object({ t: Type.String({ maxLength: 2000 }) }) } }, async (req, reply) => {
    const att = await attachmentFor(ctx, null, (req.params as { id: string }).id, (req.query as { t: string }).t);
    const body = await blobStore(ctx).get(att.storage_key);
    return reply.type(att.content_type).header('content-disposition', disposition(att.filename)).header('x-content-type-options', 'nosniff')
      .header('content-security-policy', "default-src 'none'; sandbox").send(body);
  });
}
