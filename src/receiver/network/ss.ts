import { execFile } from 'node:child_process';

/** Byte counters of one TCP socket from the kernel's tcp_info. */
export interface TcpCounters {
  bytesSent: number;
  bytesReceived: number;
}

/**
 * Per-connection byte counters from `ss -tinHe` (iproute2). `ss` asks the kernel over netlink (sock_diag) for
 * every TCP socket with its tcp_info in one round trip; `-e` adds the socket inode, which we join with the
 * inodes found in a server's `/proc/<pid>/fd`. We deliberately do not pass `-p`: that makes `ss` walk every
 * process's descriptors, the most expensive thing it can do, and we already know which inodes we want.
 *
 * `bytes_sent` is used for the sent side rather than `bytes_acked`: `bytes_acked` also counts the SYN (and FIN)
 * sequence numbers, so a connection that sent N bytes reports N+1; `bytes_sent` counts data octets, including
 * retransmissions (rare, and on loopback never).
 */
export function readTcpCounters(timeoutMs = 2000): Promise<Map<number, TcpCounters>> {
  return new Promise((resolve, reject) => {
    execFile('ss', ['-tinHe'], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout) => {
      if (err) return reject(err);
      resolve(parseSsOutput(stdout));
    });
  });
}

/** Parses `ss -tinHe` output: one socket per record, a header line and indented tcp_info lines. */
export function parseSsOutput(text: string): Map<number, TcpCounters> {
  const out = new Map<number, TcpCounters>();
  let inode: number | undefined;
  const flush = (info: string) => {
    if (inode === undefined) return;
    const sent = /\bbytes_sent:(\d+)/.exec(info) ?? /\bbytes_acked:(\d+)/.exec(info);
    const received = /\bbytes_received:(\d+)/.exec(info);
    out.set(inode, { bytesSent: Number(sent?.[1] ?? 0), bytesReceived: Number(received?.[1] ?? 0) });
  };
  let info = '';
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      info += ' ' + line;
      continue;
    }
    flush(info);
    info = line;
    const m = /\bino:(\d+)/.exec(line);
    inode = m?.[1] ? Number(m[1]) : undefined;
  }
  flush(info);
  return out;
}
