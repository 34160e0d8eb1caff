// VK Teams bot integration: Bot API client (MessengerPort), message rendering, signed callback
// tokens and the long-poll loop. The bot role wires these to the domain (respond command, job queue).
export * from './client.js';
export * from './render.js';
export * from './callback-token.js';
export * from './poller.js';
export { parseJsonPreservingBigInts } from './json.js';
