/** Capacity of a new store ring; rings double from here up to the store's limit. */
export const INITIAL_RING_CAPACITY = 1024;

/** First capacity of a ring that may hold up to `limit` items: a power of two, so positions map to slots by a mask. */
export function initialRingCapacity(limit: number): number {
  return Math.min(INITIAL_RING_CAPACITY, ceilPowerOfTwo(limit));
}

/** Whether a ring that may hold up to `limit` items may grow to `capacity`. */
export function mayGrowTo(capacity: number, limit: number): boolean {
  return capacity <= ceilPowerOfTwo(limit) * 2;
}

function ceilPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
