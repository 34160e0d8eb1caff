// Mail integration: outgoing composers and transport, inbound MIME parsing and intake listeners.
export * from './imip-out.js';
export * from './transport.js';
export * from './mime-in.js';
export * from './intake-servers.js';
export { messages, t, escapeHtml, formatRange, type MessageKey } from './i18n.js';
