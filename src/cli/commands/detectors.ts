import { type Command, Option } from 'commander';
import { loadConfig } from '../../config/load.js';
import { defaultDetectorsDirectory, loadDetectors } from '../../detect/loader.js';
import type { DetectorInfo } from '../../detect/engine.js';
import { resolveDetectorSettings } from '../../detect/settings.js';
import { AdminClientError, adminGet } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { sanitizeForTerminal } from '../sanitize.js';
import { renderTable } from '../table.js';
import { DEFAULT_ADMIN_ENDPOINT } from './query.js';

const collect = (value: string, previous: string[]) => [...previous, value];

interface DetectorsOptions {
  admin: string;
  token?: string;
  json?: boolean;
  offline?: boolean;
  config: string[];
  set: string[];
}

/**
 * `mcpwatch detectors`: the detectors a running daemon loaded (id, maturity, enabled, severity, title,
 * learning/armed entities), or with `--offline` what a configuration would load, read from disk.
 */
export function registerDetectorsCommand(program: Command): void {
  program
    .command('detectors')
    .description('List detectors: id, maturity, enabled, severity, title (and, from a running daemon, entities learning/armed).')
    .addOption(new Option('--admin <host:port>', 'admin endpoint of the daemon').env('MCPWATCH_ADMIN_URL').default(DEFAULT_ADMIN_ENDPOINT))
    .addOption(new Option('--token <token>', 'admin bearer token').env('MCPWATCH_ADMIN_TOKEN'))
    .option('--offline', 'read the detectors from disk instead of asking a daemon (uses --config for enabled)')
    .addOption(new Option('-c, --config <file>', 'with --offline: YAML config file(s)').default([]).argParser(collect))
    .addOption(new Option('--set <key=value>', 'with --offline: override one setting').default([]).argParser(collect))
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  mcpwatch detectors\n  mcpwatch detectors --offline --config mcpwatch.yaml --json')
    .action(async (opts: DetectorsOptions, cmd: Command) => {
      const out = cmd.configureOutput();
      const write = (s: string) => (out.writeOut ? out.writeOut(s) : process.stdout.write(s));
      let detectors: DetectorInfo[];
      try {
        detectors = opts.offline ? await offline(opts) : (await adminGet<{ detectors: DetectorInfo[] }>({ admin: opts.admin, ...(opts.token ? { token: opts.token } : {}) }, '/api/detectors')).detectors;
      } catch (err) {
        if (!(err instanceof AdminClientError)) throw err;
        const line = `mcpwatch: ${sanitizeForTerminal(err.message)} (or use --offline)\n`;
        if (out.writeErr) out.writeErr(line);
        else process.stderr.write(line);
        process.exitCode = EXIT.failure;
        return;
      }
      write(opts.json ? `${JSON.stringify({ detectors }, null, 2)}\n` : render(detectors));
    });
}

async function offline(opts: DetectorsOptions): Promise<DetectorInfo[]> {
  const config = loadConfig({ files: opts.config, set: opts.set });
  const loaded = await loadDetectors(config.detectors.engine.directory ?? defaultDetectorsDirectory());
  return loaded.map((d) => {
    const m = d.manifest;
    const resolved = resolveDetectorSettings(m, d.module.configSchema, config.detectors[d.id]);
    return { id: m.id, title: m.title, description: m.description, severity: m.severity, maturity: m.maturity, enabled: resolved.settings?.enabled ?? false, sources: m.sources, tags: m.tags };
  });
}

function render(detectors: DetectorInfo[]): string {
  if (detectors.length === 0) return 'no detectors loaded\n';
  const rows = [...detectors]
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((d) => [d.id, d.maturity, d.enabled ? 'yes' : 'no', d.severity, d.entities ? `${d.entities.learning}/${d.entities.armed}` : '-', d.title]);
  return renderTable(
    [{ header: 'ID' }, { header: 'MATURITY' }, { header: 'ENABLED' }, { header: 'SEVERITY' }, { header: 'LEARNING/ARMED', align: 'right' }, { header: 'TITLE', maxWidth: 70 }],
    rows,
  );
}
