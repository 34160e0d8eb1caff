/** OPTIONS — the DAV header advertises exactly what is implemented (RFC 4918 §10.1, RFC 4791 §5.1, RFC 6638 §2). */
import type { FastifyReply } from 'fastify';

/** 1: WebDAV; 3: RFC 4918; no 2 (LOCK is not implemented). */
export const DAV_HEADER = '1, 3, access-control, calendar-access, calendar-auto-schedule, extended-mkcol, calendarserver-principal-property-search, calendarserver-principal-search';
export const ALLOW = 'OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, REPORT, MKCALENDAR, MKCOL, COPY, MOVE, POST';

export function options(reply: FastifyReply) {
  reply.header('dav', DAV_HEADER);
  reply.header('allow', ALLOW);
  reply.header('ms-author-via', 'DAV');
  return reply.status(200).header('content-length', '0').send();
}
