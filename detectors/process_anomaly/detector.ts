import { z } from 'zod';
import type { DetectorModule } from '../../src/detect/detector.js';
import { BoundedMap } from '../../src/detect/bounded-map.js';
import type { McpEvent, ProcessEvent } from '../../src/pipeline/events.js';

export const processAnomalyConfigSchema = z
  .object({
    /** Executable base names counted as shells. */
    shells: z.array(z.string()).default(['sh', 'bash', 'dash', 'zsh', 'ksh', 'fish', 'csh', 'tcsh', 'ash', 'busybox', 'pwsh', 'powershell', 'powershell.exe', 'cmd.exe']),
    /** Network tools: a server spawning these is reaching out or opening a channel. */
    networkTools: z.array(z.string()).default(['curl', 'wget', 'nc', 'ncat', 'netcat', 'socat', 'ssh', 'scp', 'sftp', 'telnet', 'nmap', 'ftp', 'tftp', 'rsync']),
    /** Interpreters: reported when run with inline code (`-c`, `-e`, `--eval`), the shape of injected commands. */
    interpreters: z.array(z.string()).default(['python', 'python3', 'python2', 'perl', 'ruby', 'php', 'node', 'lua', 'osascript', 'deno', 'bun']),
    /** Privilege tools: sudo and friends spawned by a server. */
    privilegeTools: z.array(z.string()).default(['sudo', 'su', 'doas', 'pkexec', 'setcap', 'chown', 'chmod']),
    /**
     * Do not report servers that merely run as uid 0 (hosts and containers where every process is root, so
     * it says nothing about the server). Gaining root after start (`uid_change`) is still reported.
     */
    allowRoot: z.boolean().default(false),
    /** Report listeners on loopback too (off: local HTTP servers listen on loopback by design). */
    loopbackListeners: z.boolean().default(false),
    /** Servers whose last executable / version is remembered across runs (LRU). */
    maxServers: z.number().int().positive().default(10_000),
  })
  .strict();

export type ProcessAnomalyConfig = z.infer<typeof processAnomalyConfigSchema>;

interface RunPin {
  executable?: string;
  version?: string;
  commandLine?: string;
  pid?: number;
}

const snapshotSchema = z.object({
  version: z.literal(1),
  runs: z.array(z.tuple([z.string(), z.object({ executable: z.string().optional(), version: z.string().optional(), commandLine: z.string().optional(), pid: z.number().optional() })])),
});

function base(path: string | undefined): string {
  if (!path) return '';
  return (path.split(/[\\/]/).pop() ?? '').toLowerCase();
}

/** `python3.12` -> `python3`; `node20` -> `node`. */
function family(name: string): string {
  return name.replace(/(?:\d+(?:\.\d+)*)$/, '').replace(/\.exe$/, '') || name;
}

const INLINE_CODE = /^(?:-c|-e|-E|--eval|-r|--command|-Command|-EncodedCommand|eval)$/;
const WILDCARD = new Set(['0.0.0.0', '::', '[::]', '*', '']);
const LOOPBACK = /^(?:127\.|::1$|\[::1\]$|localhost$)/;

const processAnomaly: DetectorModule<ProcessAnomalyConfig> = {
  configSchema: processAnomalyConfigSchema,
  create(ctx) {
    const cfg = ctx.config;
    const shells = new Set(cfg.shells.map((s) => s.toLowerCase()));
    const netTools = new Set(cfg.networkTools.map((s) => s.toLowerCase()));
    const interpreters = new Set(cfg.interpreters.map((s) => s.toLowerCase()));
    const privTools = new Set(cfg.privilegeTools.map((s) => s.toLowerCase()));
    const runs = new BoundedMap<RunPin>({ maxEntries: cfg.maxServers, onEvict: () => ctx.countEviction() });

    const fire = (
      event: ProcessEvent,
      severity: 'low' | 'medium' | 'high' | 'critical',
      key: string,
      title: string,
      observed: string,
      expected: string,
      labels: Record<string, string> = {},
    ): void => {
      ctx.fire({
        severity,
        title: `${event.server.name}: ${title}`,
        summary: `${event.server.name} (pid ${event.pid}): ${title}: ${observed}`,
        server: event.server.name,
        key,
        time: event.time,
        labels: { action: event.action, ...labels },
        evidence: [
          {
            description: title,
            eventId: event.id,
            time: event.time,
            observed,
            expected,
            details: { pid: event.pid, ppid: event.ppid ?? null, executable: event.executable ?? null, argv: (event.argv ?? []).slice(0, 16).map((a) => a.slice(0, 200)) },
          },
        ],
      });
    };

    const onExec = (event: ProcessEvent): void => {
      const name = base(event.executable ?? event.argv?.[0]);
      if (!name) return;
      const fam = family(name);
      const argv = event.argv ?? [];
      const cmd = argv.join(' ').slice(0, 300) || name;
      if (shells.has(name) || shells.has(fam)) return fire(event, 'high', `shell:${fam}`, `spawned a shell (${name})`, cmd, 'no shell spawned by an MCP server', { category: 'shell' });
      if (netTools.has(name) || netTools.has(fam)) return fire(event, 'high', `network_tool:${fam}`, `spawned a network tool (${name})`, cmd, 'no network tool spawned by an MCP server', { category: 'network_tool' });
      if (privTools.has(name)) return fire(event, 'high', `privilege_tool:${name}`, `spawned a privilege tool (${name})`, cmd, 'no privilege change by an MCP server', { category: 'privilege_tool' });
      if ((interpreters.has(name) || interpreters.has(fam)) && argv.slice(1).some((a) => INLINE_CODE.test(a))) {
        return fire(event, 'medium', `interpreter:${fam}`, `ran ${name} with inline code`, cmd, 'no inline code run by an MCP server', { category: 'interpreter' });
      }
    };

    const onRun = (event: McpEvent): void => {
      const s = event.server;
      if (s.executable === undefined && s.version === undefined) return;
      const now = ctx.now();
      const prior = runs.get(s.id, now);
      const current: RunPin = {};
      if (s.executable !== undefined) current.executable = s.executable;
      if (s.version !== undefined) current.version = s.version;
      if (s.commandLine !== undefined) current.commandLine = s.commandLine;
      if (s.pid !== undefined) current.pid = s.pid;
      if (!prior) {
        runs.set(s.id, current, now);
        return;
      }
      const changed: string[] = [];
      if (prior.executable !== undefined && current.executable !== undefined && prior.executable !== current.executable) changed.push(`executable ${prior.executable} -> ${current.executable}`);
      if (prior.version !== undefined && current.version !== undefined && prior.version !== current.version) changed.push(`version ${prior.version} -> ${current.version}`);
      runs.set(s.id, { ...prior, ...current }, now);
      if (changed.length === 0) return;
      ctx.fire({
        severity: 'medium',
        title: `${s.name}: executable or version changed between runs`,
        summary: `${s.name} now runs with ${changed.join(', ')}`,
        server: s.name,
        key: `run_changed:${current.executable ?? ''}:${current.version ?? ''}`,
        time: event.time,
        labels: { category: 'run_changed' },
        evidence: changed.map((c) => ({ description: c, eventId: event.id, time: event.time, observed: c.split(' -> ')[1], expected: c.split(' -> ')[0]?.replace(/^\w+ /, '') })),
      });
    };

    return {
      onEvent(event) {
        onRun(event);
        if (event.kind !== 'process') return;
        switch (event.action) {
          case 'exec':
            onExec(event);
            break;
          case 'root':
            if (cfg.allowRoot) break;
            fire(event, 'high', 'root', 'runs as root', `uid ${event.uid ?? '?'} euid ${event.euid ?? 0}`, 'an unprivileged user', { category: 'root' });
            break;
          case 'uid_change': {
            const prev = event.previous;
            const gained = (event.euid === 0 || event.uid === 0) && (prev === undefined || prev.euid !== 0);
            fire(
              event,
              gained ? 'critical' : 'medium',
              'uid_change',
              gained ? 'gained root privileges' : 'changed user id',
              `uid ${event.uid ?? '?'} euid ${event.euid ?? '?'}`,
              prev ? `uid ${prev.uid} euid ${prev.euid}` : 'unchanged ids',
              { category: gained ? 'privilege_gain' : 'uid_change' },
            );
            break;
          }
          case 'listen': {
            const l = event.listen;
            if (!l) break;
            const addr = l.address.trim();
            const wildcard = WILDCARD.has(addr);
            if (LOOPBACK.test(addr) && !cfg.loopbackListeners) break;
            fire(
              event,
              wildcard ? 'high' : LOOPBACK.test(addr) ? 'low' : 'medium',
              `listen:${l.protocol}:${addr}:${l.port}`,
              wildcard ? 'opened a listening socket on all interfaces' : 'opened a listening socket',
              `${l.protocol} ${addr || '*'}:${l.port}`,
              'no new listener, or loopback only',
              { category: 'listener', destination: `${addr}:${l.port}` },
            );
            break;
          }
          default:
            break;
        }
      },
      snapshot() {
        return { version: 1, runs: [...runs.entries()] };
      },
      restore(state) {
        const parsed = snapshotSchema.safeParse(state);
        if (!parsed.success) return;
        const now = ctx.now();
        for (const [id, pin] of parsed.data.runs) runs.set(id, pin as RunPin, now);
      },
    };
  },
};

export default processAnomaly;
