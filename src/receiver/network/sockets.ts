import { isIPv4 } from 'node:net';

/** One row of `/proc/net/{tcp,tcp6,udp,udp6}`. */
export interface SocketEntry {
  protocol: 'tcp' | 'udp';
  local: { address: string; port: number };
  remote: { address: string; port: number };
  /** Kernel TCP state number (`include/net/tcp_states.h`); UDP uses 1 (connected) and 7 (unconnected). */
  state: number;
  inode: number;
  uid: number;
}

export const TCP_STATE = { established: 1, synSent: 2, listen: 10, close: 7 } as const;

/**
 * Parses a `/proc/net/tcp`-style table (header line, then `sl local rem st tx:rx tr:when retrnsmt uid timeout
 * inode ...`). Addresses are hex in host byte order per 32-bit word; malformed rows are skipped.
 */
export function parseSocketTable(text: string, protocol: 'tcp' | 'udp', out = new Map<number, SocketEntry>()): Map<number, SocketEntry> {
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i]!.trim().split(/\s+/);
    if (f.length < 10) continue;
    const local = parseHexEndpoint(f[1]!);
    const remote = parseHexEndpoint(f[2]!);
    const inode = Number(f[9]);
    if (!local || !remote || !Number.isSafeInteger(inode) || inode === 0) continue;
    out.set(inode, { protocol, local, remote, state: parseInt(f[3]!, 16), inode, uid: Number(f[7]) });
  }
  return out;
}

/** `0100007F:0CEA` -> 127.0.0.1:3306; 32 hex digits for IPv6 (four little-endian words). */
export function parseHexEndpoint(text: string): { address: string; port: number } | undefined {
  const [hex, portHex] = text.split(':');
  if (!hex || !portHex) return undefined;
  const port = parseInt(portHex, 16);
  if (hex.length === 8) return { address: hexWordToIpv4(hex), port };
  if (hex.length !== 32) return undefined;
  const words = [0, 8, 16, 24].map((o) => hex.slice(o, o + 8));
  // IPv4-mapped (::ffff:a.b.c.d): report the IPv4 address, as connect() callers think of it.
  if (words[0] === '00000000' && words[1] === '00000000' && words[2] === 'FFFF0000') {
    return { address: hexWordToIpv4(words[3]!), port };
  }
  const groups: string[] = [];
  for (const w of words) {
    const b = [w.slice(6, 8), w.slice(4, 6), w.slice(2, 4), w.slice(0, 2)].join('');
    groups.push(b.slice(0, 4), b.slice(4, 8));
  }
  return { address: compressIpv6(groups.map((g) => parseInt(g, 16).toString(16))), port };
}

function hexWordToIpv4(word: string): string {
  const n = parseInt(word, 16);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].join('.');
}

function compressIpv6(groups: string[]): string {
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLen).join(':')}`;
}

export type AddressScope = 'loopback' | 'private' | 'link_local' | 'metadata' | 'public';

/** Cloud instance-metadata endpoints (AWS/GCP/Azure/OpenStack IPv4, AWS Nitro IPv6). */
export const METADATA_ADDRESSES: ReadonlySet<string> = new Set(['169.254.169.254', 'fd00:ec2::254', '100.100.100.200']);

/**
 * Where an address points. Metadata is checked first because the usual endpoint is link-local: reaching it
 * from an MCP server is a credential-theft signal of its own.
 */
export function classifyAddress(address: string, metadata: ReadonlySet<string> = METADATA_ADDRESSES): AddressScope {
  const a = address.toLowerCase();
  if (metadata.has(a)) return 'metadata';
  if (isIPv4(a)) {
    const [x = 0, y = 0] = a.split('.').map(Number);
    if (x === 127 || x === 0) return 'loopback';
    if (x === 10 || (x === 172 && y >= 16 && y <= 31) || (x === 192 && y === 168) || (x === 100 && y >= 64 && y <= 127)) return 'private';
    if (x === 169 && y === 254) return 'link_local';
    return 'public';
  }
  if (a === '::1' || a === '::') return 'loopback';
  if (/^fe[89ab]/.test(a)) return 'link_local';
  if (/^f[cd]/.test(a)) return 'private';
  return 'public';
}

/** An unspecified or zero remote: a listening or unconnected socket. */
export function isUnspecified(address: string, port: number): boolean {
  return port === 0 && (address === '0.0.0.0' || address === '::');
}
