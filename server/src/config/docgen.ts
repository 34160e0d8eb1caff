// Prints docs/configuration.md from the schema: `npm run docs:config`.
import { settings } from './schema.js';

const rows = Object.entries(settings).map(([key, s]) => {
  const def = s.default === undefined ? '—' : Array.isArray(s.default) ? (s.default.length ? s.default.join(',') : '—') : String(s.default);
  return `| \`${s.env}\` | \`${key}\` | ${s.kind} | ${s.secret ? '(secret)' : `\`${def}\``} | ${s.help} |`;
});
console.log(`# Configuration

Generated from \`server/src/config/schema.ts\` by \`npm run docs:config\`; do not edit by hand.

Settings come from environment variables, then from the JSON file named by \`CALENDULA_CONFIG\`
(keys as in the second column), then from the defaults. Unknown keys in the file are an error.

| variable | file key | type | default | meaning |
|---|---|---|---|---|
${rows.join('\n')}
`);
