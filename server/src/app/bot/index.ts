// The VK Teams bot's application layer: linking, inbound events, outgoing message jobs, the messenger channel.
export * from './linking.js';
export * from './inbound.js';
export * from './outbox.js';
export * from './channel.js';
export * from './jobs.js';
export * from './messenger.js';
export { loadLastEventId, saveLastEventId } from './store.js';
