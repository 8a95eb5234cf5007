import { type Command, Option } from 'commander';
import type { DeadLetter } from '../../alert/queue/types.js';
import type { Silence } from '../../alert/silences.js';
import type { TrackedAlert } from '../../alert/types.js';
import { adminGet, adminPost } from '../client.js';
import { sanitizeForTerminal } from '../sanitize.js';
import { renderTable } from '../table.js';
import { DEFAULT_ADMIN_ENDPOINT } from './query.js';
import { checkSince, client, json, positiveInt, run, usage, type ConnectionOptions } from '../run-command.js';

const ADMIN_ENV = 'MCPWATCH_ADMIN_URL';
const TOKEN_ENV = 'MCPWATCH_ADMIN_TOKEN';
const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'];

/**
 * `mcpwatch alerts`: list alerts (the default), `ack`, `silence`, `silences`, `expire-silence`,
 * `dead-letters`, `replay`, all through the daemon's `/api/alerts` routes.
 */
export function registerAlertCommands(program: Command): void {
  const alerts = program
    .command('alerts')
    .description('Alerts of a running daemon: list (default), ack, silence, silences, expire-silence, dead-letters, replay.');

  connection(
    alerts
      .command('list', { isDefault: true })
      .description('List alerts, newest first.')
      .option('--detector <id>', 'only this detector')
      .option('--server <name>', 'only this server')
      .addOption(new Option('--severity <level>', 'at least this severe').choices(SEVERITIES))
      .addOption(new Option('--status <status>', 'firing or resolved').choices(['firing', 'resolved']))
      .option('--since <when>', 'active since: a duration back from now (15m, 1h), RFC 3339, or Unix ms')
      .addOption(new Option('--limit <n>', 'most alerts listed (1-1000)').argParser(positiveInt(1000)))
      .addHelpText('after', examples('mcpwatch alerts --severity high --status firing', 'mcpwatch alerts --detector exfiltration --since 1h --json')),
  ).action(async (opts: ConnectionOptions & Record<string, string | number | undefined>, cmd: Command) => {
    checkSince(cmd, typeof opts.since === 'string' ? opts.since : undefined);
    const p = new URLSearchParams();
    for (const k of ['detector', 'server', 'severity', 'status', 'since', 'limit']) {
      const v = opts[k];
      if (v !== undefined) p.set(k, String(v));
    }
    await run(cmd, async () => {
      const answer = await adminGet<{ alerts: TrackedAlert[] }>(client(opts), `/api/alerts${p.size ? `?${p}` : ''}`);
      if (opts.json) return json(answer);
      if (answer.alerts.length === 0) return 'no alerts match\n';
      return renderTable(
        [
          { header: 'ID', maxWidth: 26 },
          { header: 'STATUS' },
          { header: 'SEVERITY' },
          { header: 'DETECTOR', maxWidth: 24 },
          { header: 'SERVER', maxWidth: 24 },
          { header: 'TOOL', maxWidth: 24 },
          { header: 'COUNT', align: 'right' },
          { header: 'STARTED' },
          { header: 'TITLE', maxWidth: 60 },
          { header: 'NOTE', maxWidth: 30 },
        ],
        answer.alerts.map((a) => [
          a.id,
          a.status,
          a.severity,
          a.detector,
          a.server,
          a.tool ?? '-',
          a.count,
          a.startsAt,
          a.title,
          a.acknowledged ? `acked by ${a.acknowledged.author}` : a.silencedBy ? `silenced (${a.silencedBy})` : '',
        ]),
      );
    });
  });

  connection(
    alerts
      .command('ack')
      .argument('<id>', 'alert id (from mcpwatch alerts)')
      .requiredOption('--author <name>', 'who acknowledges')
      .option('--comment <text>', 'why', '')
      .description('Acknowledge a firing alert: no repeat notifications until it resolves or its severity rises.'),
  ).action(async (id: string, opts: ConnectionOptions & { author: string; comment: string }, cmd: Command) => {
    await run(cmd, async () => {
      const answer = await adminPost<{ alert: TrackedAlert }>(client(opts), `/api/alerts/${encodeURIComponent(id)}/ack`, { author: opts.author, comment: opts.comment });
      return opts.json ? json(answer) : `acknowledged ${sanitizeForTerminal(answer.alert.id)} (${sanitizeForTerminal(answer.alert.title)})\n`;
    });
  });

  connection(
    alerts
      .command('silence')
      .description('Silence alerts matching every given matcher for a while.')
      .option('--detector <id>', 'match this detector')
      .option('--server <name>', 'match this server')
      .option('--tool <name>', 'match this tool')
      .requiredOption('--duration <d>', 'how long: 30m, 2h, 7d')
      .requiredOption('--author <name>', 'who silences')
      .option('--comment <text>', 'why', '')
      .addHelpText('after', examples('mcpwatch alerts silence --server weather --detector dos --duration 2h --author alice --comment "load test"')),
  ).action(async (opts: ConnectionOptions & { detector?: string; server?: string; tool?: string; duration: string; author: string; comment: string }, cmd: Command) => {
    if (opts.detector === undefined && opts.server === undefined && opts.tool === undefined) usage(cmd, 'give at least one of --detector, --server, --tool');
    if (!/^(\d{1,9}(ms|s|m|h|d))+$/.test(opts.duration)) usage(cmd, '--duration must be a duration such as 30m, 2h, 7d');
    await run(cmd, async () => {
      const body = {
        ...(opts.detector !== undefined && { detector: opts.detector }),
        ...(opts.server !== undefined && { server: opts.server }),
        ...(opts.tool !== undefined && { tool: opts.tool }),
        duration: opts.duration,
        author: opts.author,
        comment: opts.comment,
      };
      const answer = await adminPost<{ silence: Silence }>(client(opts), '/api/alerts/silences', body);
      return opts.json ? json(answer) : `silence ${answer.silence.id} until ${answer.silence.endsAt}\n`;
    });
  });

  connection(
    alerts.command('silences').description('List active silences.').option('--expired', 'include recently expired ones'),
  ).action(async (opts: ConnectionOptions & { expired?: boolean }, cmd: Command) => {
    await run(cmd, async () => {
      const answer = await adminGet<{ silences: Silence[] }>(client(opts), `/api/alerts/silences${opts.expired ? '?expired=true' : ''}`);
      if (opts.json) return json(answer);
      if (answer.silences.length === 0) return 'no silences\n';
      return renderTable(
        [{ header: 'ID' }, { header: 'DETECTOR' }, { header: 'SERVER' }, { header: 'TOOL' }, { header: 'ENDS' }, { header: 'AUTHOR' }, { header: 'COMMENT', maxWidth: 40 }],
        answer.silences.map((s) => [s.id, s.detector ?? '*', s.server ?? '*', s.tool ?? '*', s.endsAt, s.author, s.comment]),
      );
    });
  });

  connection(
    alerts.command('expire-silence').argument('<id>', 'silence id').requiredOption('--author <name>', 'who ends it').description('End a silence now.'),
  ).action(async (id: string, opts: ConnectionOptions & { author: string }, cmd: Command) => {
    await run(cmd, async () => {
      const answer = await adminPost<{ silence: Silence }>(client(opts), `/api/alerts/silences/${encodeURIComponent(id)}/expire`, { author: opts.author });
      return opts.json ? json(answer) : `silence ${answer.silence.id} ended at ${answer.silence.endsAt}\n`;
    });
  });

  connection(alerts.command('dead-letters').description('Notifications that failed for good (permanent errors, or attempts exhausted).')).action(
    async (opts: ConnectionOptions, cmd: Command) => {
      await run(cmd, async () => {
        const answer = await adminGet<{ deadLetters: DeadLetter[] }>(client(opts), '/api/alerts/dead-letters');
        if (opts.json) return json(answer);
        if (answer.deadLetters.length === 0) return 'no dead letters\n';
        return renderTable(
          [{ header: 'ID' }, { header: 'SINK' }, { header: 'ALERTS', align: 'right' }, { header: 'ATTEMPTS', align: 'right' }, { header: 'FAILED AT' }, { header: 'ERROR', maxWidth: 80 }],
          answer.deadLetters.map((d) => [d.id, d.sink, d.alerts.length, d.attempts, d.failedAt, d.error]),
        );
      });
    },
  );

  connection(
    alerts
      .command('replay')
      .argument('[ids...]', 'dead-letter ids (from mcpwatch alerts dead-letters)')
      .option('--all', 'replay every dead letter')
      .description('Put dead letters back into the queue with fresh attempts.'),
  ).action(async (ids: string[], opts: ConnectionOptions & { all?: boolean }, cmd: Command) => {
    if ((ids.length > 0) === Boolean(opts.all)) usage(cmd, 'give dead-letter ids, or --all');
    await run(cmd, async () => {
      const answer = await adminPost<{ replayed: number }>(client(opts), '/api/alerts/replay', opts.all ? { all: true } : { ids });
      return opts.json ? json(answer) : `replayed ${answer.replayed} notification${answer.replayed === 1 ? '' : 's'}\n`;
    });
  });
}

function connection(cmd: Command): Command {
  return cmd
    .addOption(new Option('--admin <host:port>', 'admin endpoint of the daemon (or a URL)').env(ADMIN_ENV).default(DEFAULT_ADMIN_ENDPOINT))
    .addOption(new Option('--token <token>', `bearer token for admin.auth.bearerToken (prefer ${TOKEN_ENV})`).env(TOKEN_ENV))
    .option('--json', 'print the JSON answer');
}

function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}\n`;
}

