import { basename } from 'node:path';

/**
 * Recognises MCP server processes from their launch command alone (issue 4, "by discovery"). Pure functions:
 * the registry feeds them argv read from /proc, tests feed them literal argv.
 */

/** Package and image names that are MCP servers without saying `mcp` in a standard place. */
export const DEFAULT_KNOWN_PACKAGES = [
  '@modelcontextprotocol/server-*',
  '@playwright/mcp',
  '@upstash/context7-mcp',
  '@notionhq/notion-mcp-server',
  '@sentry/mcp-server',
  'mcp-server-*',
  'mcp/*',
  'ghcr.io/github/github-mcp-server',
];

/** Process names of MCP clients whose stdio children are MCP servers (Claude Desktop/Code, Cursor, VS Code, Codex). */
export const DEFAULT_CLIENT_NAMES = ['claude', 'Claude', 'cursor', 'Cursor', 'code', 'Code', 'code-insiders', 'codium', 'codex'];

/** Children of a client that are tools, not servers: the shell a coding agent runs commands in, and so on. */
const NOT_SERVERS: ReadonlySet<string> = new Set(['sh', 'bash', 'zsh', 'fish', 'dash', 'git', 'rg', 'ssh', 'sudo', 'ps', 'kill', 'node-gyp', 'esbuild', 'tsserver']);

/** `mcp` as a word of a name: `mcp-server-git`, `github-mcp-server`, `foo_mcp`, `mcp`. */
const MCP_WORD = /(^|[-_.@/])mcp($|[-_.@/])/i;

const LAUNCHERS: ReadonlySet<string> = new Set(['npx', 'uvx', 'bunx', 'pipx', 'pnpx']);

export interface DiscoveryMatch {
  /** Name to show: the package, image or executable. */
  name: string;
  /** Why it matched, for the event and for operators tuning discovery. */
  reason: 'launcher_package' | 'docker_image' | 'mcp_name' | 'known_package' | 'stdio_child_of_client';
}

export interface DiscoveryRules {
  knownPackages: readonly string[];
  clientNames: readonly string[];
}

/** Whether `argv` launches an MCP server; `undefined` when nothing suggests it. */
export function classifyCommand(argv: readonly string[], rules: DiscoveryRules): DiscoveryMatch | undefined {
  const exe = argv[0] === undefined ? '' : basename(argv[0]);
  if (exe === '') return undefined;
  const known = (name: string) => rules.knownPackages.some((p) => globMatch(p, stripVersion(name)));

  if (LAUNCHERS.has(exe) || (exe === 'npm' && argv[1] === 'exec') || (exe === 'pnpm' && argv[1] === 'dlx') || (exe === 'pipx' && argv[1] === 'run')) {
    const pkg = launchedPackage(argv.slice(exe === 'npm' || exe === 'pnpm' || (exe === 'pipx' && argv[1] === 'run') ? 2 : 1));
    if (pkg !== undefined && (known(pkg) || MCP_WORD.test(stripVersion(pkg)))) return { name: stripVersion(pkg), reason: 'launcher_package' };
    return undefined;
  }
  if ((exe === 'docker' || exe === 'podman') && argv[1] === 'run') {
    const image = dockerImage(argv.slice(2));
    if (image !== undefined && (known(image) || MCP_WORD.test(stripTag(image)))) return { name: stripTag(image), reason: 'docker_image' };
    return undefined;
  }
  if (MCP_WORD.test(exe)) return { name: exe, reason: 'mcp_name' };
  // Interpreters running a script: the script path names the server (`node .../bin/mcp-server-filesystem`,
  // `python -m mcp_server_fetch`, `node .../@modelcontextprotocol/server-everything/dist/index.js`).
  if (/^(node|nodejs|bun|deno|python[0-9.]*|uv)$/.test(exe)) {
    for (const arg of argv.slice(1, 4)) {
      if (arg.startsWith('-') && arg !== '-m') continue;
      const scoped = /@modelcontextprotocol\/(server-[^/]+)/.exec(arg);
      if (scoped?.[1]) return { name: `@modelcontextprotocol/${scoped[1]}`, reason: 'known_package' };
      const base = basename(arg).replace(/\.(m?[jt]s|cjs|py)$/, '');
      if (MCP_WORD.test(base) && base !== 'index') return { name: base, reason: 'mcp_name' };
    }
  }
  return undefined;
}

/**
 * Whether a child of `parentArgv` is an MCP stdio server its client launched: the parent is a known client,
 * the child talks over pipes on stdin and stdout, and it is not one of the tools agents run.
 */
export function classifyClientChild(
  argv: readonly string[],
  parentArgv: readonly string[],
  stdio: { stdin?: string; stdout?: string },
  rules: DiscoveryRules,
): DiscoveryMatch | undefined {
  const parent = clientName(parentArgv, rules);
  if (parent === undefined) return undefined;
  if (!stdio.stdin?.startsWith('pipe:') || !stdio.stdout?.startsWith('pipe:')) return undefined;
  const exe = argv[0] === undefined ? '' : basename(argv[0]);
  if (exe === '' || NOT_SERVERS.has(exe) || rules.clientNames.includes(exe)) return undefined;
  return { name: exe, reason: 'stdio_child_of_client' };
}

/** Whether `argv` is a known MCP client (its stdio children are candidate servers). */
export function isClientProcess(argv: readonly string[], rules: DiscoveryRules): boolean {
  return clientName(argv, rules) !== undefined;
}

function clientName(argv: readonly string[], rules: DiscoveryRules): string | undefined {
  const exe = argv[0] === undefined ? '' : basename(argv[0]);
  if (rules.clientNames.includes(exe)) return exe;
  // Claude Code and Codex run as `node .../bin/claude` or `node .../codex.js`.
  if (/^(node|nodejs|bun)$/.test(exe) && argv[1] !== undefined) {
    const script = basename(argv[1]).replace(/\.(m?js|cjs)$/, '');
    if (rules.clientNames.includes(script)) return script;
    // `node .../@anthropic-ai/claude-code/cli.js`, `node .../@openai/codex/bin/codex.js`.
    const pkg = /(?:^|\/)(?:@anthropic-ai\/(claude)-code|@openai\/(codex))\//.exec(argv[1]);
    const name = pkg?.[1] ?? pkg?.[2];
    if (name !== undefined && rules.clientNames.includes(name)) return name;
  }
  return undefined;
}

/** The first operand of `npx [-y] [-p pkg] PKG args` / `uvx [--from x] PKG`: options with values are skipped. */
function launchedPackage(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--package' || a === '-p' || a === '--from' || a === '--with' || a === '--python') {
      // `npx -p @scope/server-x server-x`: the package option is what runs.
      if ((a === '--package' || a === '-p' || a === '--from') && args[i + 1] !== undefined) return args[i + 1];
      i++;
      continue;
    }
    if (a.startsWith('--package=') || a.startsWith('--from=')) return a.slice(a.indexOf('=') + 1);
    if (a.startsWith('-')) continue;
    return a;
  }
  return undefined;
}

const DOCKER_VALUE_OPTIONS: ReadonlySet<string> = new Set(['-e', '--env', '-v', '--volume', '--name', '-p', '--publish', '--network', '--net', '-w', '--workdir', '-u', '--user', '--env-file', '--entrypoint', '--mount', '-l', '--label', '--platform', '--pull', '--cpus', '-m', '--memory']);

function dockerImage(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (DOCKER_VALUE_OPTIONS.has(a)) {
      i++;
      continue;
    }
    if (a.startsWith('-')) continue;
    return a;
  }
  return undefined;
}

function stripVersion(pkg: string): string {
  const at = pkg.lastIndexOf('@');
  return at > 0 ? pkg.slice(0, at) : pkg;
}

function stripTag(image: string): string {
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  const noDigest = image.split('@')[0] ?? image;
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

/** `*` matches any run of characters except nothing else: enough for package and image patterns. */
export function globMatch(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(value);
}
