import { describe, expect, it } from 'vitest';
import { classifyClientChild, classifyCommand, DEFAULT_CLIENT_NAMES, DEFAULT_KNOWN_PACKAGES } from '../../src/receiver/process/discovery.js';
import { parseStat, parseStatus, socketInode } from '../../src/receiver/process/procfs.js';
import { classifyAddress, parseHexEndpoint, parseSocketTable } from '../../src/receiver/network/sockets.js';
import { parseSsOutput } from '../../src/receiver/network/ss.js';
import { mountOptionsOf } from '../../src/receiver/file/canary.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const rules = { knownPackages: DEFAULT_KNOWN_PACKAGES, clientNames: DEFAULT_CLIENT_NAMES };

describe('procfs parsers', () => {
  it('parses stat with a hostile comm containing ") " and spaces', () => {
    const st = parseStat('4242 (evil) (x) y) S 17 4242 4242 0 -1 4194560 100 0 0 0 31 9 0 0 20 0 7 0 123456 1000000 2560 18446744073709551615');
    expect(st).toMatchObject({ pid: 4242, comm: 'evil) (x) y', state: 'S', ppid: 17, cpuTicks: 40, threads: 7, startTicks: 123456, rssPages: 2560 });
  });

  it('rejects a truncated stat instead of inventing fields', () => {
    expect(parseStat('4242 (node')).toBeUndefined();
  });

  it('reads real and effective uid from status', () => {
    expect(parseStatus('Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t100\t100\t100\t100\n')).toEqual({ uid: 1000, euid: 0, gid: 100, egid: 100 });
  });

  it('extracts socket inodes only from socket links', () => {
    expect(socketInode('socket:[61034]')).toBe(61034);
    expect(socketInode('pipe:[61034]')).toBeUndefined();
    expect(socketInode('/home/u/.ssh/id_rsa')).toBeUndefined();
  });
});

describe('socket tables', () => {
  it('decodes IPv4, IPv6 and IPv4-mapped endpoints', () => {
    expect(parseHexEndpoint('0100007F:0CEA')).toEqual({ address: '127.0.0.1', port: 3306 });
    expect(parseHexEndpoint('00000000000000000000000001000000:1F90')).toEqual({ address: '::1', port: 8080 });
    expect(parseHexEndpoint('0000000000000000FFFF00000100007F:0050')).toEqual({ address: '127.0.0.1', port: 80 });
    expect(parseHexEndpoint('B80D0120000000000000000001000000:0050')).toEqual({ address: '2001:db8::1', port: 80 });
  });

  it('parses rows by inode and skips malformed ones', () => {
    const text = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 777 1 0 100 0 0 10 0',
      '   1: 0100007F:A000 FEA9FEA9:0050 01 00000000:00000000 00:00000000 00000000  1000        0 778 1 0 100 0 0 10 0',
      '   2: garbage',
    ].join('\n');
    const table = parseSocketTable(text, 'tcp');
    expect([...table.keys()]).toEqual([777, 778]);
    expect(table.get(777)).toMatchObject({ state: 10, local: { address: '0.0.0.0', port: 8080 } });
    expect(table.get(778)?.remote).toEqual({ address: '169.254.169.254', port: 80 });
  });

  it('classifies loopback, private, link-local, metadata and public addresses', () => {
    expect(classifyAddress('127.0.0.1')).toBe('loopback');
    expect(classifyAddress('::1')).toBe('loopback');
    expect(classifyAddress('10.1.2.3')).toBe('private');
    expect(classifyAddress('172.20.0.1')).toBe('private');
    expect(classifyAddress('192.168.1.1')).toBe('private');
    expect(classifyAddress('fd12::1')).toBe('private');
    expect(classifyAddress('169.254.10.10')).toBe('link_local');
    expect(classifyAddress('fe80::1')).toBe('link_local');
    expect(classifyAddress('169.254.169.254')).toBe('metadata');
    expect(classifyAddress('fd00:ec2::254')).toBe('metadata');
    expect(classifyAddress('8.8.8.8')).toBe('public');
    expect(classifyAddress('2606:4700::1111')).toBe('public');
    expect(classifyAddress('172.32.0.1')).toBe('public');
  });

  it('reads bytes_sent and bytes_received per inode from ss -tinHe output', () => {
    const out = [
      'ESTAB 0      0      127.0.0.1:38832 127.0.0.1:33797 timer:(keepalive,59sec,0) ino:61034 sk:1 cgroup:/ <->',
      '\t ts sack bbr wscale:10,10 rto:204 bytes_sent:12345 bytes_acked:12346 bytes_received:16956 segs_out:4',
      'ESTAB 0      0      127.0.0.1:41832 127.0.0.1:4369  uid:106 ino:6069 sk:2 cgroup:/ <->',
      '\t ts sack bytes_acked:22 segs_out:4',
    ].join('\n');
    const counters = parseSsOutput(out);
    expect(counters.get(61034)).toEqual({ bytesSent: 12345, bytesReceived: 16956 });
    expect(counters.get(6069)).toEqual({ bytesSent: 22, bytesReceived: 0 });
  });
});

describe('MCP server discovery', () => {
  it.each([
    [['npx', '-y', '@modelcontextprotocol/server-filesystem', '/data'], '@modelcontextprotocol/server-filesystem', 'launcher_package'],
    [['npx', '-y', '@playwright/mcp@latest'], '@playwright/mcp', 'launcher_package'],
    [['uvx', 'mcp-server-fetch'], 'mcp-server-fetch', 'launcher_package'],
    [['uvx', '--from', 'git+https://x/y', 'weather-mcp'], 'git+https://x/y', undefined],
    [['docker', 'run', '-i', '--rm', '-e', 'GITHUB_TOKEN', 'ghcr.io/github/github-mcp-server:v1'], 'ghcr.io/github/github-mcp-server', 'docker_image'],
    [['docker', 'run', '-i', 'mcp/postgres'], 'mcp/postgres', 'docker_image'],
    [['/usr/local/bin/github-mcp-server', 'stdio'], 'github-mcp-server', 'mcp_name'],
    [['node', '/root/.npm/_npx/abc/node_modules/.bin/mcp-server-memory'], 'mcp-server-memory', 'mcp_name'],
    [['node', '/x/node_modules/@modelcontextprotocol/server-everything/dist/index.js', 'stdio'], '@modelcontextprotocol/server-everything', 'known_package'],
  ])('recognises %j', (argv, name, reason) => {
    const m = classifyCommand(argv, rules);
    if (reason === undefined) expect(m).toBeUndefined();
    else expect(m).toEqual({ name, reason });
  });

  it.each([
    [['npx', 'vitest', 'run']],
    [['docker', 'run', '-i', 'postgres:16']],
    [['node', 'server.js']],
    [['python3', '-m', 'http.server']],
    [['bash', '-c', 'echo mcp']],
    [['/usr/bin/mcpwatch-like-but-not']],
  ])('does not flag %j', (argv) => {
    expect(classifyCommand(argv, rules)).toBeUndefined();
  });

  it('flags stdio children of MCP clients, but not their shells or non-pipe children', () => {
    const pipes = { stdin: 'pipe:[1]', stdout: 'pipe:[2]' };
    expect(classifyClientChild(['/opt/weather/bin/weather'], ['/usr/bin/node', '/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js'], pipes, rules)).toEqual({ name: 'weather', reason: 'stdio_child_of_client' });
    expect(classifyClientChild(['/opt/weather/bin/weather'], ['/usr/bin/node', '/srv/app/cli.js'], pipes, rules)).toBeUndefined();
    expect(classifyClientChild(['/opt/weather/bin/weather'], ['node', '/usr/local/bin/claude'], pipes, rules)).toEqual({ name: 'weather', reason: 'stdio_child_of_client' });
    expect(classifyClientChild(['weather'], ['/usr/share/cursor/cursor'], pipes, rules)).toEqual({ name: 'weather', reason: 'stdio_child_of_client' });
    expect(classifyClientChild(['/bin/bash', '-c', 'ls'], ['/usr/bin/codex'], pipes, rules)).toBeUndefined();
    expect(classifyClientChild(['weather'], ['/usr/bin/codex'], { stdin: '/dev/null', stdout: 'pipe:[2]' }, rules)).toBeUndefined();
    expect(classifyClientChild(['weather'], ['/usr/bin/firefox'], pipes, rules)).toBeUndefined();
  });
});

describe('mount options for canaries', () => {
  it('finds the longest mount point holding a path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-mountinfo-'));
    const file = join(dir, 'mountinfo');
    writeFileSync(file, ['27 1 254:0 / / rw,relatime - ext4 /dev/vda rw', '40 27 0:40 / /home rw,noatime - ext4 /dev/vdb rw', ''].join('\n'));
    expect(mountOptionsOf('/home/u/.aws/credentials', file)).toContain('noatime');
    expect(mountOptionsOf('/var/lib/x', file)).toContain('relatime');
    expect(mountOptionsOf('/homestead/x', file)).toContain('relatime');
  });
});
