/**
 * Sensitive file paths and path traversal, shared by detectors (sensitive_access, tool_poisoning,
 * exfiltration). Paths come from untrusted places (tool arguments, resource URIs, tool descriptions), so
 * matching works on a normalised copy: `file://` URIs decoded, `\` turned into `/`, `~` and `$HOME`
 * treated as a home directory, case folded (Windows and macOS file systems are case-insensitive).
 *
 * The list is about credentials and system secrets an MCP server has no ordinary reason to read; project
 * `.env` files are included because they are where API keys live in practice.
 */

export type SensitiveCategory =
  | 'ssh'
  | 'cloud_credentials'
  | 'kube'
  | 'docker'
  | 'vcs_credentials'
  | 'package_credentials'
  | 'env_file'
  | 'shell_history'
  | 'browser_profile'
  | 'password_store'
  | 'gpg'
  | 'system_secrets'
  | 'system_accounts'
  | 'proc'
  | 'mcp_client_config'
  | 'private_key';

export interface SensitivePathMatch {
  sensitive: boolean;
  category?: SensitiveCategory;
}

interface Rule {
  category: SensitiveCategory;
  /** Tested against the normalised path (lower case, `/` separators, home as `~`). */
  pattern: RegExp;
}

// Segment boundaries: a pattern starts after `/`, `~` or the start, and ends at `/` or the end.
const S = '(?:^|/|~)';
const E = '(?:/|$)';

const RULES: readonly Rule[] = [
  { category: 'ssh', pattern: new RegExp(`${S}\\.ssh/(?:id_[a-z0-9_]+|authorized_keys|known_hosts|config)`) },
  { category: 'ssh', pattern: new RegExp(`${S}\\.ssh${E}`) },
  { category: 'private_key', pattern: /\.(?:pem|key|p12|pfx|jks|keystore)$/ },
  { category: 'cloud_credentials', pattern: new RegExp(`${S}\\.aws/(?:credentials|config)${E}`) },
  { category: 'cloud_credentials', pattern: new RegExp(`${S}\\.config/gcloud${E}`) },
  { category: 'cloud_credentials', pattern: new RegExp(`${S}\\.azure${E}`) },
  { category: 'cloud_credentials', pattern: /application_default_credentials\.json$|service[-_]?account[^/]*\.json$/ },
  { category: 'kube', pattern: new RegExp(`${S}\\.kube/config${E}`) },
  { category: 'docker', pattern: new RegExp(`${S}\\.docker/config\\.json$`) },
  { category: 'vcs_credentials', pattern: new RegExp(`${S}\\.git-credentials$|${S}\\.config/gh/hosts\\.yml$|${S}\\.netrc$`) },
  { category: 'package_credentials', pattern: new RegExp(`${S}\\.npmrc$|${S}\\.pypirc$|${S}\\.cargo/credentials(?:\\.toml)?$|${S}\\.gem/credentials$`) },
  { category: 'env_file', pattern: new RegExp(`${S}\\.env(?:\\.[a-z0-9_-]+)?$`) },
  { category: 'shell_history', pattern: new RegExp(`${S}\\.(?:bash|zsh|sh|python|node_repl|psql|mysql)_history$|${S}\\.zhistory$`) },
  { category: 'browser_profile', pattern: /(?:google\/chrome|chromium|mozilla\/firefox|brave-browser)\/.*(?:cookies|login data|logins\.json|key4\.db)/ },
  { category: 'password_store', pattern: new RegExp(`${S}\\.password-store${E}|${S}keychains${E}|\\.kdbx$|${S}\\.local/share/keyrings${E}`) },
  { category: 'gpg', pattern: new RegExp(`${S}\\.gnupg${E}`) },
  { category: 'system_secrets', pattern: /^\/etc\/(?:shadow|gshadow|sudoers(?:\.d)?|master\.passwd)(?:\/|$)|^\/etc\/ssh\/ssh_host_[a-z0-9_]+_key$/ },
  { category: 'system_accounts', pattern: /^\/etc\/(?:passwd|group)$/ },
  { category: 'system_secrets', pattern: /^\/var\/run\/secrets(?:\/|$)|^\/run\/secrets(?:\/|$)/ },
  { category: 'proc', pattern: /^\/proc\/(?:self|\d+)\/(?:environ|mem|maps|cmdline)$/ },
  { category: 'mcp_client_config', pattern: /(?:claude_desktop_config\.json|\.cursor\/mcp\.json|\.vscode\/mcp\.json|\.codeium\/windsurf\/mcp_config\.json)$/ },
];

/**
 * Lower-cased, `/`-separated, home collapsed to `~`, `file://` decoded. Returns '' for non-paths.
 * `/etc/passwd` is world-readable and not itself secret, but `/etc/shadow` is.
 */
export function normalisePath(input: string): string {
  let p = input.trim();
  if (p.length === 0 || p.length > 4096) return '';
  if (/^file:/i.test(p)) {
    p = p.replace(/^file:(?:\/\/[^/]*)?/i, '');
    try {
      p = decodeURIComponent(p);
    } catch {
      // A malformed escape stays as written; the raw text is still matched.
    }
  }
  p = p.replace(/\\/g, '/').toLowerCase();
  p = p.replace(/^\$home(?=\/|$)|^\$\{home\}(?=\/|$)|^%userprofile%(?=\/|$)/, '~');
  p = p.replace(/^\/(?:home|users)\/[^/]+(?=\/|$)|^\/root(?=\/|$)|^[a-z]:\/users\/[^/]+(?=\/|$)/, '~');
  p = p.replace(/\/{2,}/g, '/');
  return p;
}

/** Whether a path (or `file://` URI) names a credential or system secret, and which kind. */
export function isSensitivePath(path: string): SensitivePathMatch {
  const p = normalisePath(path);
  if (p === '') return { sensitive: false };
  for (const rule of RULES) if (rule.pattern.test(p)) return { sensitive: true, category: rule.category };
  return { sensitive: false };
}

/**
 * Whether a path tries to climb out of where it is resolved: `..` segments (also percent-encoded, and
 * the overlong UTF-8 / double-encoded forms), or a NUL byte that truncates the path in C-backed APIs.
 */
export function hasPathTraversal(path: string): boolean {
  if (path.length > 8192) return true;
  if (path.includes('\0') || /%00/i.test(path)) return true;
  let p = path;
  for (let i = 0; i < 3; i += 1) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(p);
    } catch {
      decoded = p.replace(/%2e/gi, '.').replace(/%2f/gi, '/').replace(/%5c/gi, '\\');
    }
    if (decoded === p) break;
    p = decoded;
  }
  p = p.replace(/%c0%ae/gi, '.').replace(/\\/g, '/');
  return /(?:^|\/)\.\.(?:\/|$)/.test(p);
}

/**
 * Whether `path` lies inside one of `roots` (absolute paths or `file://` URIs), after resolving `.` and
 * `..` lexically. Symlinks cannot be seen from telemetry; that limit is the CVE-2025-53109 class, which
 * the file receiver's real paths catch instead.
 */
export function isWithinRoots(path: string, roots: readonly string[]): boolean {
  const target = resolveLexically(normalisePath(path));
  if (target === undefined) return false;
  return roots.some((root) => {
    const r = resolveLexically(normalisePath(root));
    if (r === undefined) return false;
    if (r === '/') return target.startsWith('/');
    return target === r || target.startsWith(`${r}/`);
  });
}

/** `/a/b/../c` -> `/a/c`; undefined for relative paths (they cannot be placed without a cwd). */
export function resolveLexically(p: string): string | undefined {
  if (!p.startsWith('/') && !p.startsWith('~') && !/^[a-z]:\//.test(p)) return undefined;
  const out: string[] = [];
  const [head, ...rest] = p.split('/');
  for (const seg of rest) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return `${head}/${out.join('/')}`.replace(/\/$/, '') || '/';
}

/**
 * Paths mentioned in free text (tool descriptions, arguments): `~/...`, `/abs/...`, `C:\...`, `file://`.
 * Bounded: at most `limit` paths, each at most 512 characters.
 */
export function extractPaths(text: string, limit = 32): string[] {
  const found: string[] = [];
  const re = /(?:file:\/\/[^\s"'<>`]{1,512}|(?:~|\$HOME|%USERPROFILE%)[\\/][^\s"'<>`,;)]{1,512}|(?<![\w.])\/(?:[\w.@-]+\/)*[\w.@-]+|\b[A-Za-z]:\\[^\s"'<>`,;)]{1,512}|(?<![\w/])\.[\w-]+\/[\w./-]{1,256}|(?<![\w/])\.(?:env|npmrc|netrc|pypirc|git-credentials|bash_history|zsh_history)\b)/g;
  for (const m of text.slice(0, 256 * 1024).matchAll(re)) {
    found.push(m[0].replace(/[.,:]+$/, ''));
    if (found.length >= limit) break;
  }
  return found;
}
