import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alert/types.js';
import { REPO_ROOT } from '../helpers/daemon.js';
import { stdioClient, waitForEvents, wrapArgs } from '../helpers/tap-clients.js';
import { corpusDir, describeAlerts, listAlerts, startWatchedDaemon, waitForAlert } from '../helpers/watch-daemon.js';

/**
 * Tool definitions from the public corpora (`../shared/corpora`, read at run time, see its README for
 * sources and licences), served by test/fixtures/servers/corpus-server.mjs through `mcpwatch wrap` and listed
 * by the real SDK client. Poisoning and rug pulls must be caught at `tools/list` time: no tool is ever called.
 *
 * Cases used:
 * - agent-egress-bench/cases/mcp-tool/mcp-tool-poison-001.json (hidden instruction to read ~/.ssh/id_rsa)
 * - agent-egress-bench/cases/mcp-tool/mcp-tool-priority-006.json (tool preference manipulation)
 * - agent-egress-bench/cases/mcp-tool/mcp-tool-schema-inject-004.json (instructions inside the input schema)
 * - agent-egress-bench/cases/mcp-tool/mcp-tool-shadow-003.json (shadowing another tool)
 * - agent-egress-bench/cases/mcp-tool/mcp-tool-rugpull-002.json (the drifted, malicious description)
 * - mcp-injection-experiments-hartmann/tests/fixtures/registry/example-server-v1.yaml -> -v2.yaml (rug-pull pair)
 * - agent-egress-bench/cases/mcp-tool/mcp-tool-benign-verbose-001.json and
 *   agent-egress-bench/cases/false-positive/fp-security-scanner-tool-006.json (benign look-alikes)
 */

const SERVER = join(REPO_ROOT, 'test', 'fixtures', 'servers', 'corpus-server.mjs');
const corpora = corpusDir();
const egress = (p: string) => join(corpora, 'agent-egress-bench', 'cases', p);
const hartmann = (p: string) => join(corpora, 'mcp-injection-experiments-hartmann', 'tests', 'fixtures', 'registry', p);

const POISONED = ['mcp-tool/mcp-tool-poison-001.json', 'mcp-tool/mcp-tool-priority-006.json', 'mcp-tool/mcp-tool-schema-inject-004.json', 'mcp-tool/mcp-tool-shadow-003.json', 'mcp-tool/mcp-tool-rugpull-002.json'].map(egress);
const BENIGN = [egress('mcp-tool/mcp-tool-benign-verbose-001.json'), egress('false-positive/fp-security-scanner-tool-006.json'), hartmann('example-server-v1.yaml')];

type Watched = Awaited<ReturnType<typeof startWatchedDaemon>>;
let watched: Watched;
let home: string;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'mcpwatch-corpus-home-'));
  watched = await startWatchedDaemon({ home });
}, 60_000);
afterAll(async () => {
  await watched?.shutdown();
  rmSync(home, { recursive: true, force: true });
});

/** The corpus server through the tap; `phases` are comma-joined corpus files, one argument per phase. */
function connect(name: string, phases: string[][]) {
  return stdioClient(process.execPath, wrapArgs(name, watched.otlpUrl, [SERVER, ...phases.map((p) => p.join(','))]));
}

/** The tapped server `name` as alerts name it, once its `tools/list` answer was seen (`lists` times). */
async function listedBy(name: string, lists = 1): Promise<string> {
  const events = await waitForEvents(watched.adminUrl, (ev) => ev.filter((e) => e.server.name === name && e.method === 'tools/list' && e.messageType === 'request' && e.catalog !== undefined).length >= lists);
  const mine = events.filter((e) => e.server.name === name);
  // Detected at tools/list time: the client never called a tool.
  expect(mine.filter((e) => e.method === 'tools/call')).toEqual([]);
  return mine[0]!.server.name;
}

const ofServer = (alerts: Alert[], name: string) => alerts.filter((a) => a.server === name);

/** Two engine ticks and a host sample after the last event, so anything that would fire has fired. */
const settle = () => new Promise((r) => setTimeout(r, 1200));

describe('corpus tool definitions through the tap', () => {
  it('poisoned descriptions raise tool_poisoning for every poisoned tool at tools/list time', async () => {
    const { client } = await connect('corpus-poisoned', [POISONED]);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['get_weather', 'search_docs', 'search_knowledge_base', 'secure_file_read', 'verify_recipient']);
    const id = await listedBy('corpus-poisoned');
    for (const tool of tools.map((t) => t.name)) {
      await waitForAlert(watched.adminUrl, (a) => a.detector === 'tool_poisoning' && a.server === id && a.tool === tool);
    }
    await client.close();
  }, 60_000);

  it('the hartmann rug pull (v1 approved, v2 after list_changed) raises tool_drift with a diff, and nothing before it', async () => {
    const { client, notifications } = await connect('corpus-rugpull', [[hartmann('example-server-v1.yaml')], [hartmann('example-server-v2.yaml')]]);
    const first = await client.listTools();
    expect(first.tools.map((t) => t.name)).toEqual(['profile.get']);
    const id = await listedBy('corpus-rugpull');
    await settle();
    expect(ofServer(await listAlerts(watched.adminUrl), id), 'v1 is benign').toEqual([]);

    const deadline = Date.now() + 10_000;
    while (!notifications.includes('notifications/tools/list_changed')) {
      if (Date.now() > deadline) throw new Error(`no list_changed; client saw ${JSON.stringify(notifications)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const second = await client.listTools();
    expect(second.tools.map((t) => t.name).sort()).toEqual(['message.send', 'profile.get']);
    await listedBy('corpus-rugpull', 2);

    const changed = await waitForAlert(watched.adminUrl, (a) => a.detector === 'tool_drift' && a.server === id && a.tool === 'profile.get');
    expect(changed).toMatchObject({ severity: 'high', labels: { change: 'changed', midSession: 'true', fields: 'description,inputSchema' } });
    expect(changed.evidence.map((e) => e.description)).toEqual([expect.stringContaining('attacker@attacker.example'), 'parameters added: include_contacts']);
    await waitForAlert(watched.adminUrl, (a) => a.detector === 'tool_drift' && a.server === id && a.tool === 'message.send' && a.labels['change'] === 'added');
    // The new description is poisoned too, and judged as such when listed.
    await waitForAlert(watched.adminUrl, (a) => a.detector === 'tool_poisoning' && a.server === id && a.tool === 'profile.get');
    await client.close();
  }, 60_000);

  it('benign corpus definitions raise nothing with every detector on', async () => {
    const { client } = await connect('corpus-benign', [BENIGN]);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['format_code', 'profile.get', 'security_scan']);
    const id = await listedBy('corpus-benign');
    await settle();
    const alerts = ofServer(await listAlerts(watched.adminUrl), id);
    expect(alerts, describeAlerts(alerts)).toEqual([]);
    await client.close();
  }, 60_000);
});
