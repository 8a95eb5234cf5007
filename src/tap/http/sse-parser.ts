import { StringDecoder } from 'node:string_decoder';

/**
 * A bounded parser of a copy of a `text/event-stream` body (HTML Living Standard, "Server-sent events",
 * event stream interpretation): lines end in CRLF, LF or CR; `data:` lines of one event are joined with
 * LF; a blank line dispatches the event. MCP puts one JSON-RPC message in each `message` event's data,
 * and the legacy HTTP+SSE transport first sends an `endpoint` event with the POST URL.
 *
 * Memory: a line or an event's data longer than `maxEventBytes` is not kept; the event is reported as
 * oversize with its size only (data characters plus one per line, as the data would have been joined).
 * A UTF-8 byte order mark at the start of the stream is skipped, as the standard's decoder does.
 */

export interface SseEvent {
  event: string;
  data: string;
  /** Set when the data was too big to keep; `data` is then empty. */
  oversize?: number;
}

export class SseParser {
  private readonly decoder = new StringDecoder('utf8');
  private line = '';
  private lineOversize = false;
  /** Length of the oversize line so far (only counted, not kept). */
  private lineOversizeChars = 0;
  private data: string[] = [];
  private dataBytes = 0;
  private dataOversize = false;
  private eventType = '';
  private lastWasCr = false;
  private atStreamStart = true;

  constructor(private readonly maxEventBytes: number) {}

  push(chunk: Buffer): SseEvent[] {
    const out: SseEvent[] = [];
    const text = this.decoder.write(chunk);
    let start = 0;
    if (this.atStreamStart && text.length > 0) {
      this.atStreamStart = false;
      if (text.charCodeAt(0) === 0xfeff) start = 1;
    }
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 0x0a && c !== 0x0d) continue;
      if (c === 0x0a && this.lastWasCr && i === start) {
        // The LF of a CRLF whose CR ended the previous line.
        this.lastWasCr = false;
        start = i + 1;
        continue;
      }
      this.appendLine(text, start, i);
      this.endLine(out);
      this.lastWasCr = c === 0x0d;
      start = i + 1;
    }
    if (start < text.length) {
      this.lastWasCr = false;
      this.appendLine(text, start, text.length);
    }
    return out;
  }

  private appendLine(text: string, start: number, end: number): void {
    if (end <= start) return;
    if (this.lineOversize) {
      this.lineOversizeChars += end - start;
      return;
    }
    if (this.line.length + (end - start) > this.maxEventBytes) {
      this.lineOversize = true;
      this.lineOversizeChars = this.line.length + (end - start);
      this.line = '';
      return;
    }
    this.line += text.slice(start, end);
  }

  private endLine(out: SseEvent[]): void {
    const line = this.line;
    const oversize = this.lineOversize;
    this.line = '';
    this.lineOversize = false;
    if (oversize) {
      // Only a data line gets this long in practice; its event is reported as oversize. The line is
      // counted with its field name ("data: "), so the size is an upper bound by a few bytes.
      this.dataBytes += this.lineOversizeChars + 1;
      this.lineOversizeChars = 0;
      this.dataOversize = true;
      this.data = [];
      return;
    }
    if (line === '') {
      this.dispatch(out);
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      this.dataBytes += value.length + 1;
      if (this.dataOversize) return;
      if (this.dataBytes > this.maxEventBytes) {
        this.dataOversize = true;
        this.data = [];
        return;
      }
      this.data.push(value);
    } else if (field === 'event') {
      this.eventType = value.slice(0, 256);
    }
  }

  private dispatch(out: SseEvent[]): void {
    const event = this.eventType || 'message';
    if (this.dataOversize) out.push({ event, data: '', oversize: this.dataBytes });
    else if (this.data.length > 0) out.push({ event, data: this.data.join('\n') });
    this.data = [];
    this.dataBytes = 0;
    this.dataOversize = false;
    this.eventType = '';
  }
}
