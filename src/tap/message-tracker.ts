import type { Attributes } from '@opentelemetry/api';
import type { JsonRpcId } from './jsonrpc-message.js';

/** Which way a message travelled through the tap. */
export type Direction = 'client_to_server' | 'server_to_client';

/** The parent a request's span hangs under, and how it was found. */
export interface ParentRef {
  traceId: string;
  spanId: string;
  source: 'traceparent' | 'process_tree' | 'socket_owner';
}

/** The trace a request's span belongs to, and its parent span when there is one. */
export interface RequestIds {
  traceId: string;
  parent?: ParentRef;
}

/** A request seen in one direction whose response has not been seen yet. */
export interface InFlightRequest {
  direction: Direction;
  /** Session (HTTP) or connection scope the JSON-RPC id is unique in. */
  scope: string;
  id: JsonRpcId;
  method: string;
  name: string;
  startMs: number;
  spanId: string;
  /** Trace id and parent: known at once (from `_meta.traceparent`, or with no upstream tap), else a chain look-up's promise. */
  ids: RequestIds | Promise<RequestIds>;
  attributes: Attributes;
}

export const DEFAULT_MAX_IN_FLIGHT = 10_000;

/**
 * Pairs requests with their responses, in both directions (client-to-server calls and the server's own
 * requests: sampling, elicitation, roots). Bounded: past `maxInFlight` the oldest request is evicted and
 * handed back so the caller can record it as unanswered; a peer that never answers costs a fixed amount.
 */
export class MessageTracker {
  private readonly pending = new Map<string, InFlightRequest>();
  evicted = 0;

  constructor(private readonly maxInFlight = DEFAULT_MAX_IN_FLIGHT) {}

  get size(): number {
    return this.pending.size;
  }

  /** Starts tracking a request; returns a request evicted to make room, or a duplicate id replaced. */
  begin(req: InFlightRequest): InFlightRequest | undefined {
    const key = keyOf(req.scope, req.direction, req.id);
    const replaced = this.pending.get(key);
    if (replaced) this.pending.delete(key);
    this.pending.set(key, req);
    if (replaced) return replaced;
    if (this.pending.size > this.maxInFlight) {
      const oldestKey = this.pending.keys().next().value as string;
      const oldest = this.pending.get(oldestKey);
      this.pending.delete(oldestKey);
      this.evicted++;
      return oldest;
    }
    return undefined;
  }

  /** The request a response answers: the response travels the other way from its request. */
  complete(scope: string, responseDirection: Direction, id: JsonRpcId): InFlightRequest | undefined {
    const key = keyOf(scope, responseDirection === 'client_to_server' ? 'server_to_client' : 'client_to_server', id);
    const req = this.pending.get(key);
    if (req) this.pending.delete(key);
    return req;
  }

  /** The request a response answers, left in flight. */
  peek(scope: string, responseDirection: Direction, id: JsonRpcId): InFlightRequest | undefined {
    return this.pending.get(keyOf(scope, responseDirection === 'client_to_server' ? 'server_to_client' : 'client_to_server', id));
  }

  /** Requests in flight, oldest first (optionally one direction only). */
  inFlight(direction?: Direction): InFlightRequest[] {
    const out: InFlightRequest[] = [];
    for (const r of this.pending.values()) if (direction === undefined || r.direction === direction) out.push(r);
    return out;
  }

  /** Everything still in flight, removed (at shutdown). */
  drain(): InFlightRequest[] {
    const all = [...this.pending.values()];
    this.pending.clear();
    return all;
  }
}

function keyOf(scope: string, direction: Direction, id: JsonRpcId): string {
  // A string id "1" and a number id 1 are different JSON-RPC ids.
  return `${scope}\u0000${direction}\u0000${typeof id === 'number' ? 'n' : 's'}${String(id)}`;
}
