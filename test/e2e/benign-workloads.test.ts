import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/daemon.js';
import { EVERYTHING, FILESYSTEM, MEMORY, stdioClient, waitForEvents, wrapArgs } from '../helpers/tap-clients.js';
import { allDetectorIds, describeAlerts, listAlerts, startWatchedDaemon } from '../helpers/watch-daemon.js';

/**
 * The benign workloads of the detector-engine issue (issue 5), run through `mcpwatch wrap` with the real SDK
 * client while every detector is on (issue 6: stable, incubating and sandbox alike), content capture on so
 * detectors see tool arguments and results, and host telemetry sampling the servers: zero alerts.
 */

type Watched = Awaited<ReturnType<typeof startWatchedDaemon>>;
let watched: Watched;
let tmp: string;
let project: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'mcpwatch-benign-'));
  mkdirSync(join(tmp, 'home', '.ssh'), { recursive: true, mode: 0o700 });
  // A real TypeScript project to read end to end: this repository's own sources and manifests.
  project = join(tmp, 'project');
  cpSync(join(REPO_ROOT, 'src'), join(project, 'src'), { recursive: true });
  cpSync(join(REPO_ROOT, 'package.json'), join(project, 'package.json'));
  cpSync(join(REPO_ROOT, 'tsconfig.json'), join(project, 'tsconfig.json'));
  cpSync(join(REPO_ROOT, 'README.md'), join(project, 'README.md'));
  watched = await startWatchedDaemon({
    home: join(tmp, 'home'),
    store: { captureContent: true },
    servers: [{ name: 'benign-fs', roots: [project] }, { name: 'benign-memory' }, { name: 'benign-everything' }],
  });
  const { detectors } = (await (await fetch(`${watched.adminUrl}/api/detectors`)).json()) as { detectors: { id: string; enabled: boolean }[] };
  expect(detectors.filter((d) => d.enabled).map((d) => d.id).sort()).toEqual(allDetectorIds());
}, 60_000);

afterAll(async () => {
  await watched?.shutdown();
  rmSync(tmp, { recursive: true, force: true });
});

const tapped = (name: string, server: string[], env: Record<string, string> = {}) => stdioClient(process.execPath, wrapArgs(name, watched.otlpUrl, server, ['--capture-content']), env);

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? files(join(dir, d.name)) : [join(dir, d.name)]));
}

/** Waits until the daemon saw `calls` tools/call requests of `name`, then two engine ticks and host samples. */
async function seen(name: string, calls: number) {
  await waitForEvents(watched.adminUrl, (ev) => ev.filter((e) => e.server.name === name && e.method === 'tools/call' && e.messageType === 'request').length >= calls, 30_000);
  await new Promise((r) => setTimeout(r, 1200));
}

describe('benign workloads with every detector on', () => {
  it('server-filesystem reading a whole project raises nothing', async () => {
    const { client } = await tapped('benign-fs', [FILESYSTEM, project]);
    await client.listTools();
    let calls = 0;
    const call = async (name: string, args: Record<string, unknown>) => {
      calls++;
      const r = await client.callTool({ name, arguments: args });
      expect(r.isError, `${name} ${JSON.stringify(args)}`).not.toBe(true);
      return r;
    };
    await call('list_allowed_directories', {});
    await call('directory_tree', { path: project });
    await call('search_files', { path: project, pattern: '**/*.ts' });
    await call('get_file_info', { path: join(project, 'package.json') });
    const all = files(project);
    for (let i = 0; i < all.length; i += 20) await call('read_multiple_files', { paths: all.slice(i, i + 20) });
    for (const f of all.filter((p) => p.endsWith('.md') || p.endsWith('.json'))) await call('read_text_file', { path: f });
    await call('list_directory', { path: join(project, 'src') });
    expect(all.length).toBeGreaterThan(50);
    await seen('benign-fs', calls);
    await client.close();
    const alerts = await listAlerts(watched.adminUrl);
    expect(alerts, describeAlerts(alerts)).toEqual([]);
  }, 90_000);

  it('server-memory create, read, update and delete raises nothing', async () => {
    const { client } = await tapped('benign-memory', [MEMORY], { MEMORY_FILE_PATH: join(tmp, 'memory.jsonl') });
    await client.listTools();
    const steps: [string, Record<string, unknown>][] = [
      ['create_entities', { entities: [{ name: 'mcpwatch', entityType: 'project', observations: ['monitors MCP servers'] }, { name: 'Ada', entityType: 'person', observations: ['maintains the tap'] }] }],
      ['create_relations', { relations: [{ from: 'Ada', to: 'mcpwatch', relationType: 'maintains' }] }],
      ['add_observations', { observations: [{ entityName: 'mcpwatch', contents: ['written in TypeScript'] }] }],
      ['search_nodes', { query: 'tap' }],
      ['open_nodes', { names: ['mcpwatch', 'Ada'] }],
      ['read_graph', {}],
      ['delete_observations', { deletions: [{ entityName: 'mcpwatch', observations: ['written in TypeScript'] }] }],
      ['delete_relations', { relations: [{ from: 'Ada', to: 'mcpwatch', relationType: 'maintains' }] }],
      ['delete_entities', { entityNames: ['Ada', 'mcpwatch'] }],
      ['read_graph', {}],
    ];
    for (const [name, args] of steps) expect((await client.callTool({ name, arguments: args })).isError, name).not.toBe(true);
    await seen('benign-memory', steps.length);
    await client.close();
    const alerts = await listAlerts(watched.adminUrl);
    expect(alerts, describeAlerts(alerts)).toEqual([]);
  }, 90_000);

  it('server-everything in normal use, with its periodic log notifications on, raises nothing', async () => {
    const { client, notifications } = await tapped('benign-everything', [EVERYTHING, 'stdio']);
    await client.listTools();
    await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
    await client.callTool({ name: 'echo', arguments: { message: 'hello' } });
    await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 40 } });
    await client.callTool({ name: 'get-tiny-image', arguments: {} });
    await client.callTool({ name: 'get-structured-content', arguments: { location: 'New York' } });
    await client.callTool({ name: 'get-annotated-message', arguments: { messageType: 'success', includeImage: false } });
    await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 5 } }, undefined, { onprogress: () => undefined });
    const { prompts } = await client.listPrompts();
    await client.getPrompt({ name: 'simple-prompt' });
    await client.getPrompt({ name: 'args-prompt', arguments: { city: 'Paris', state: 'IDF' } });
    const { resources } = await client.listResources();
    for (const r of resources.slice(0, 5)) await client.readResource({ uri: r.uri });
    expect(prompts.length).toBeGreaterThan(0);
    // A sustained stretch of the server's own periodic notifications.
    await new Promise((r) => setTimeout(r, 6000));
    expect(notifications.filter((m) => m === 'notifications/message').length).toBeGreaterThan(0);
    await seen('benign-everything', 7);
    await client.close();
    const alerts = await listAlerts(watched.adminUrl);
    expect(alerts, describeAlerts(alerts)).toEqual([]);
  }, 90_000);
});
