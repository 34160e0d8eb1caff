/** The `calendula` command (commander). Every command has --help. */
import { Command, Option } from 'commander';
import { loadConfig, publicUrl } from '../config/load.js';
import { openRuntime, createLogger, type Runtime } from '../roles/runtime.js';
import { ROLES, parseRoles, type RunningRole } from '../roles/index.js';
import { systemActor } from '../domain/actor.js';
import { DomainError } from '../domain/errors.js';
import * as accounts from '../app/accounts.js';
import * as principals from '../store/principals.js';

async function withRuntime<T>(fn: (rt: Runtime) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const rt = await openRuntime(config, { migrate: true, log: createLogger({ ...config, logLevel: 'warn' }), poolSize: 3 });
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}

const cliActor = () => ({ ...systemActor('cli'), isAdmin: true });

async function findUser(rt: Runtime, email: string) {
  const u = await principals.findPrincipalByEmail(rt.ctx.db, email);
  if (!u) throw new DomainError('NOT_FOUND', `No user with the address ${email}`);
  return u;
}

async function startCommand(opts: { roles?: string }) {
  const config = loadConfig();
  const roles = parseRoles(opts.roles ? opts.roles.split(',') : config.roles);
  const log = createLogger(config);
  const rt = await openRuntime(config, { migrate: true, log });
  const running: RunningRole[] = [];
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    // Reverse order: stop taking requests and jobs first, then close the database.
    for (const r of running.reverse()) await r.stop().catch((e) => log.error({ err: e, role: r.name }, 'stop failed'));
    await rt.close().catch((e) => log.error({ err: e }, 'close failed'));
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  try {
    const admin = await accounts.ensureFirstAdmin(rt.ctx);
    for (const name of roles) running.push(await (await ROLES[name]()).start(rt.ctx));
    const url = publicUrl(config);
    const lines = [`Calendula is running at ${url}/  (roles: ${roles.join(', ')}${rt.embedded ? `; embedded PostgreSQL in ${config.dataDir}` : ''})`];
    if (admin.created) {
      lines.push(`An administrator was created: ${admin.email}`);
      if (admin.password) lines.push(`  password (shown only now): ${admin.password}`);
    }
    lines.push(`Sign in at ${url}/ ; set a password with: npm run calendula -- user passwd <email> --password <new password>`);
    lines.push(`API docs: ${url}/api/docs   CalDAV: ${url}/.well-known/caldav`);
    process.stderr.write(lines.join('\n') + '\n');
  } catch (e) {
    log.error({ err: e }, 'start failed');
    await shutdown('start-failure');
  }
}

export async function main(argv: string[]) {
  const program = new Command('calendula').description('Calendula — self-hosted workspace calendar').showHelpAfterError();

  program.command('start').description('Run Calendula (all roles by default)')
    .addOption(new Option('--roles <list>', `comma-separated roles: ${Object.keys(ROLES).join(',')}`))
    .action(startCommand);

  program.command('migrate').description('Apply database migrations and exit').action(() => withRuntime(async () => {
    console.log('migrations applied');
  }));

  const user = program.command('user').description('Manage users');
  user.command('add <email>').description('Create a user')
    .requiredOption('--password <password>', 'initial password')
    .option('--name <name>', 'display name')
    .option('--admin', 'make an administrator')
    .option('--lang <lang>', 'language (en or ru)')
    .option('--timezone <tz>', 'IANA time zone')
    .action((email: string, o: { password: string; name?: string; admin?: boolean; lang?: 'en' | 'ru'; timezone?: string }) => withRuntime(async (rt) => {
      const u = await accounts.createPrincipal(rt.ctx, cliActor(), { email, password: o.password, name: o.name, isAdmin: !!o.admin, language: o.lang, timezone: o.timezone });
      console.log(`created ${u.email}${u.is_admin ? ' (administrator)' : ''} id=${u.id}`);
    }));
  user.command('list').description('List users').option('--json', 'print JSON').action((o: { json?: boolean }) => withRuntime(async (rt) => {
    const rows = await principals.listPrincipals(rt.ctx.db, { limit: 10000, offset: 0 });
    if (o.json) console.log(JSON.stringify(rows.map(accounts.publicUser), null, 2));
    else for (const r of rows) console.log(`${r.email}\t${r.kind}\t${r.name}\t${r.is_admin ? 'admin' : ''}\t${r.disabled ? 'disabled' : ''}`);
  }));
  user.command('disable <email>').description('Disable a user (signs them out everywhere)').action((email: string) => withRuntime(async (rt) => {
    await accounts.updateUser(rt.ctx, cliActor(), (await findUser(rt, email)).id, { disabled: true });
    console.log(`disabled ${email}`);
  }));
  user.command('enable <email>').description('Enable a disabled user').action((email: string) => withRuntime(async (rt) => {
    await accounts.updateUser(rt.ctx, cliActor(), (await findUser(rt, email)).id, { disabled: false });
    console.log(`enabled ${email}`);
  }));
  user.command('passwd <email>').description('Set a user\'s password').requiredOption('--password <password>', 'new password').action((email: string, o: { password: string }) => withRuntime(async (rt) => {
    await accounts.setPasswordByEmail(rt.ctx, email, o.password);
    console.log(`password set for ${email}`);
  }));
  user.command('make-admin <email>').description('Make a user an administrator').option('--revoke', 'remove administrator rights instead').action((email: string, o: { revoke?: boolean }) => withRuntime(async (rt) => {
    await accounts.updateUser(rt.ctx, cliActor(), (await findUser(rt, email)).id, { isAdmin: !o.revoke });
    console.log(`${email} is ${o.revoke ? 'no longer' : 'now'} an administrator`);
  }));

  user.command('vkteams <email> [vkteamsId]').description('Map a user\'s VK Teams id (default: the login e-mail); without an id, show the mapping and link state')
    .option('--clear', 'remove the mapping (back to the login e-mail)')
    .action((email: string, vkId: string | undefined, o: { clear?: boolean }) => withRuntime(async (rt) => {
      const { setVkteamsId, linkState } = await import('../app/bot/linking.js');
      let u = await findUser(rt, email);
      if (vkId !== undefined || o.clear) u = await setVkteamsId(rt.ctx, cliActor(), u.id, o.clear ? null : vkId!);
      const s = await linkState(rt.ctx, u);
      console.log(`${u.email}\tvkteams=${s.vkteamsId}${s.mapped ? '' : ' (login e-mail)'}\t${s.linked ? `linked since ${s.linkedAt}` : 'not linked (the user has not sent /start to the bot)'}`);
    }));

  const token = program.command('token').description('Manage API tokens');
  token.command('create <email>').description('Create an API token for a user')
    .option('--name <name>', 'token name', 'cli')
    .option('--scopes <list>', 'comma-separated: read,write,admin', 'read,write')
    .option('--days <n>', 'expire after n days')
    .action((email: string, o: { name: string; scopes: string; days?: string }) => withRuntime(async (rt) => {
      const u = await findUser(rt, email);
      const t = await accounts.createApiToken(rt.ctx, { ...cliActor(), userId: u.id }, { name: o.name, scopes: o.scopes.split(','), expiresInDays: o.days ? Number(o.days) : undefined });
      console.log(t.token);
    }));
  token.command('revoke <id>').description('Revoke an API token by id').action((id: string) => withRuntime(async (rt) => {
    await accounts.revokeApiToken(rt.ctx, cliActor(), id);
    console.log(`revoked ${id}`);
  }));

  // The local outbox: mail written to <data dir>/outbox when no SMTP_URL is configured.
  const outbox = program.command('outbox').description('Read the local mail outbox (used when no SMTP_URL is configured)');
  outbox.command('list').description('List outbox messages, newest first')
    .option('--limit <n>', 'at most n messages', '50')
    .option('--json', 'print JSON')
    .action(async (o: { limit: string; json?: boolean }) => {
      const { readdir, stat, readFile } = await import('node:fs/promises');
      const { join } = await import('node:path');
      const dir = join(loadConfig().dataDir, 'outbox');
      const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.eml'));
      const items = await Promise.all(names.map(async (name) => {
        const p = join(dir, name);
        const st = await stat(p);
        const head = (await readFile(p)).subarray(0, 16384).toString('utf8').split(/\r?\n\r?\n/)[0].replace(/\r?\n[ \t]+/g, ' ');
        const h = (k: string) => new RegExp(`^${k}:[ \\t]*(.*)$`, 'im').exec(head)?.[1]?.trim() ?? '';
        return { name, size: st.size, modifiedAt: st.mtime.toISOString(), to: h('To'), subject: h('Subject'), t: st.mtimeMs };
      }));
      items.sort((a, b) => b.t - a.t);
      const shown = items.slice(0, Number(o.limit) || 50).map(({ t: _t, ...rest }) => rest);
      if (o.json) console.log(JSON.stringify(shown, null, 2));
      else if (!shown.length) console.log(`the outbox (${dir}) is empty`);
      else for (const i of shown) console.log(`${i.modifiedAt}\t${i.name}\t${i.to}\t${i.subject}`);
    });
  outbox.command('show <name>').description('Print one outbox message (the raw message/rfc822 text)').action(async (name: string) => {
    const { readFile } = await import('node:fs/promises');
    const { join, basename } = await import('node:path');
    if (basename(name) !== name || !name.endsWith('.eml')) throw new DomainError('BAD_REQUEST', 'expected a file name from `calendula outbox list` (…eml)');
    const body = await readFile(join(loadConfig().dataDir, 'outbox', name)).catch(() => null);
    if (!body) throw new DomainError('NOT_FOUND', `no outbox message ${name}`);
    process.stdout.write(body);
  });

  program.command('deliveries').description('Show the delivery log (every e-mail, iMIP and messenger delivery attempt), newest first')
    .option('--status <status>', 'only sent, retrying or failed')
    .option('--uid <uid>', 'only deliveries about this event UID')
    .option('--user <email>', 'only deliveries of this user (as organizer or recipient)')
    .option('--limit <n>', 'at most n rows', '50')
    .option('--json', 'print JSON')
    .action((o: { status?: string; uid?: string; user?: string; limit: string; json?: boolean }) => withRuntime(async (rt) => {
      const { listDeliveries } = await import('../store/mail.js');
      if (o.status && !['sent', 'retrying', 'failed'].includes(o.status)) throw new DomainError('BAD_REQUEST', '--status is one of sent, retrying, failed');
      const ownerId = o.user ? (await findUser(rt, o.user)).id : undefined;
      const rows = await listDeliveries(rt.ctx.db, { limit: Math.min(Number(o.limit) || 50, 10_000), status: o.status, uid: o.uid, ownerId });
      if (o.json) return console.log(JSON.stringify(rows, null, 2));
      if (!rows.length) return console.log('no deliveries');
      for (const r of rows) {
        console.log([r.updated_at.toISOString(), r.status, r.channel, r.kind, r.recipient, `attempts=${r.attempts}`, r.message_id ?? '', (r.response ?? '').replace(/\s+/g, ' ').slice(0, 120)].join('\t'));
      }
    }));

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    const msg = e instanceof DomainError ? `${e.code}: ${e.message}` : (e as Error).message;
    process.stderr.write(`calendula: ${msg}\n`);
    process.exit(1);
  }
}
