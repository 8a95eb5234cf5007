import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/daemon.js';
import { stdioClient, waitForEvents, wrapArgs } from '../helpers/tap-clients.js';
import { describeAlerts, listAlerts, startWatchedDaemon, waitForAlert } from '../helpers/watch-daemon.js';

/**
 * CVE-2025-53109 ("EscapeRoute", symlink bypass) in `@modelcontextprotocol/server-filesystem`, exploited for
 * real through `mcpwatch wrap`.
 *
 * 2025.3.28 (`server-filesystem-vulnerable`, the last release before the fix) resolves the requested path
 * with `realpath`, finds the target outside the allowed directories and throws, but its own `catch` (meant
 * for files that do not exist yet) swallows that error, checks only the link's parent directory and
 * returns the link: `read_file` then follows a FILE symlink planted inside the allowed root to anything
 * the user can read. 2025.7.1 (`server-filesystem-fixed`) rethrows everything but ENOENT and refuses it.
 *
 * The tool argument is an innocent path inside the root, so `sensitive_access` cannot see the attack in
 * the traffic; it sees it in the host: the key the link points at is a canary planted by the file receiver
 * in a fake home, and the server reading it moves its atime (detectors/sensitive_access/README.md).
 */

const VULNERABLE = join(REPO_ROOT, 'node_modules', 'server-filesystem-vulnerable', 'dist', 'index.js');
const FIXED = join(REPO_ROOT, 'node_modules', 'server-filesystem-fixed', 'dist', 'index.js');

type Watched = Awaited<ReturnType<typeof startWatchedDaemon>>;
let tmp: string;
let home: string;
let root: string;
let key: string;
let link: string;
let watched: Watched;

beforeEach(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'mcpwatch-cve-'));
  home = join(tmp, 'home');
  root = join(tmp, 'project');
  mkdirSync(join(root, 'src'), { recursive: true });
  writeFileSync(join(root, 'README.md'), '# demo project\n');
  writeFileSync(join(root, 'src', 'index.ts'), 'export const answer = 42;\n');
  // A lived-in home has ~/.ssh already; the daemon plants the decoy key in it when it starts. The test never
  // reads the key itself: any read of it is what the canary reports.
  mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
  watched = await startWatchedDaemon({ home, store: { captureContent: true }, receivers: { file: { canaries: [{ path: '~/.ssh/id_rsa', kind: 'ssh' }] } } });
  key = join(home, '.ssh', 'id_rsa');
  expect(statSync(key).isFile()).toBe(true);
  // The attacker's plant: a file symlink inside the allowed root, named like something harmless.
  link = join(root, 'deploy-notes.txt');
  symlinkSync(key, link);
}, 60_000);

afterEach(async () => {
  await watched?.shutdown();
  rmSync(tmp, { recursive: true, force: true });
});

/** Connects through `mcpwatch wrap --capture-content`; returns once the daemon tracks the server's process. */
async function connect(name: string, server: string) {
  const tapped = await stdioClient(process.execPath, wrapArgs(name, watched.otlpUrl, [server, root], ['--capture-content']), { HOME: home });
  // Not `tools/list`: 2025.7.1 leans on a zod it does not declare, gets this repo's zod 4, and answers with
  // input schemas its own zod-to-json-schema left empty, which the SDK client rejects. Calls work.
  const allowed = await tapped.client.callTool({ name: 'list_allowed_directories', arguments: {} });
  expect(text(allowed)).toContain(root);
  const deadline = Date.now() + 20_000;
  while (!watched.daemon.host!.registry.list().some((s) => s.identity.name === name)) {
    if (Date.now() > deadline) throw new Error(`${name} never registered from its tap spans`);
    await new Promise((r) => setTimeout(r, 50));
  }
  // The file receiver's I/O baseline must include the server before the read it is to attribute.
  await watched.daemon.host!.file!.sampleNow();
  return tapped;
}

function text(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content.map((c) => c.text ?? '').join('');
}

describe('server-filesystem symlink bypass (CVE-2025-53109) through the tap', () => {
  it('2025.3.28 follows a file symlink out of its root to an SSH key, and sensitive_access fires on the canary read', async () => {
    const { client } = await connect('fs-vulnerable', VULNERABLE);
    const read = await client.callTool({ name: 'read_file', arguments: { path: link } });

    // The exploit is real: the server returned the key from outside its allowed directory.
    expect(read.isError).not.toBe(true);
    expect(text(read)).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n[\s\S]+# mcpwatch-canary\n$/);

    const alert = await waitForAlert(watched.adminUrl, (a) => a.detector === 'sensitive_access' && a.labels['path'] === key);
    expect(alert).toMatchObject({ severity: 'critical', status: 'firing', labels: { action: 'read', category: 'ssh' } });
    expect(alert.title).toContain('canary');
    // Attributed by I/O timing: the server is the only tracked process whose read counters moved.
    expect(alert.server).toBe('fs-vulnerable');
    expect(alert.evidence[0]?.details).toMatchObject({ attribution: 'io_timing' });
    await client.close();
    expect(alert.evidence[0]?.details).toMatchObject({ canary: true });
    // What the traffic showed: a harmless-looking path inside the root (why the host view is needed).
    const events = await waitForEvents(watched.adminUrl, (ev) => ev.some((e) => e.server.name === 'fs-vulnerable' && e.tool === 'read_file'));
    const call = events.find((e) => e.server.name === 'fs-vulnerable' && e.tool === 'read_file' && e.messageType === 'request')!;
    expect(call.arguments?.content).toEqual({ path: link });
  }, 60_000);

  it('2025.7.1 used normally, and refusing the same symlink, raises no sensitive_access', async () => {
    const { client } = await connect('fs-fixed', FIXED);
    const readme = await client.callTool({ name: 'read_file', arguments: { path: join(root, 'README.md') } });
    const source = await client.callTool({ name: 'read_file', arguments: { path: join(root, 'src', 'index.ts') } });
    const listing = await client.callTool({ name: 'list_directory', arguments: { path: root } });
    const tree = await client.callTool({ name: 'directory_tree', arguments: { path: root } });
    const refused = await client.callTool({ name: 'read_file', arguments: { path: link } });
    await client.close();

    expect(text(readme)).toBe('# demo project\n');
    expect(text(source)).toContain('answer');
    expect(text(listing)).toContain('README.md');
    expect(text(tree)).toContain('index.ts');
    expect(refused.isError).toBe(true);
    expect(text(refused)).toMatch(/Access denied - symlink target outside allowed directories/);

    // The daemon saw every call, and two full samples of the canary passed after the last one.
    await waitForEvents(watched.adminUrl, (ev) => ev.filter((e) => e.server.name === 'fs-fixed' && e.method === 'tools/call' && e.messageType === 'request').length === 6);
    const atimeBefore = statSync(key).atimeMs;
    await watched.daemon.host!.file!.sampleNow();
    await watched.daemon.host!.file!.sampleNow();
    expect(statSync(key).atimeMs).toBe(atimeBefore);
    const alerts = await listAlerts(watched.adminUrl);
    expect(alerts.filter((a) => a.detector === 'sensitive_access'), describeAlerts(alerts)).toEqual([]);
  }, 60_000);
});
