/**
 * An immutable, append-at-the-back / drop-at-the-front list of rows: the console's ring buffer and
 * its filtered view.
 *
 * A copied array per batch (`concat` + `slice`) costs O(buffer) time and ~400 KB of garbage per
 * update at 50,000 rows; here a batch costs O(rows added + rows dropped). Views share one backing
 * array: a view appends in place only when it ends where the backing array ends (it is the newest
 * view of that storage), so older views never see rows pushed after them; any other view copies
 * first. Dropping from the front only moves `start`; the dead prefix is reclaimed by copying the
 * live rows once it outweighs them, which is amortized O(1) per dropped row.
 */
export class RowList<T> implements Iterable<T> {
  private static readonly EMPTY = new RowList<never>([], 0, 0);

  static empty<T>(): RowList<T> {
    return RowList.EMPTY as RowList<T>;
  }

  static from<T>(items: Iterable<T>): RowList<T> {
    const buf = [...items];
    return buf.length ? new RowList(buf, 0, buf.length) : RowList.empty();
  }

  private constructor(
    private readonly buf: T[],
    private readonly start: number,
    readonly length: number,
  ) {}

  at(index: number): T | undefined {
    const i = index < 0 ? this.length + index : index;
    return i >= 0 && i < this.length ? this.buf[this.start + i] : undefined;
  }

  /** O(items.length) amortized. */
  push(items: readonly T[]): RowList<T> {
    if (items.length === 0) return this;
    let buf = this.buf;
    let start = this.start;
    if (buf.length !== start + this.length || this.length === 0) {
      // Another view already appended to this storage (or this is the shared empty list): copy once.
      buf = buf.slice(start, start + this.length);
      start = 0;
    }
    for (const item of items) buf.push(item);
    return new RowList(buf, start, this.length + items.length);
  }

  /**
   * Keeps the first `k` items and appends `items` after them. Keeping k === length is `push`; otherwise
   * the kept items are copied once (O(k) pointer copies, no row is rebuilt), so that older views of
   * the same storage never see the replaced tail.
   */
  replaceTail(k: number, items: readonly T[]): RowList<T> {
    if (k >= this.length) return this.push(items);
    const buf = this.buf.slice(this.start, this.start + Math.max(0, k));
    for (const item of items) buf.push(item);
    return buf.length ? new RowList(buf, 0, buf.length) : RowList.empty();
  }

  /** Drops the first `n` items: O(1) amortized per dropped item. */
  dropFront(n: number): RowList<T> {
    if (n <= 0) return this;
    if (n >= this.length) return RowList.empty();
    const start = this.start + n;
    const length = this.length - n;
    if (start > 1024 && start > length) return new RowList(this.buf.slice(start, start + length), 0, length);
    return new RowList(this.buf, start, length);
  }

  /** A copy with the last item replaced (rare: closing or merging a gap marker), O(length). */
  withLast(item: T): RowList<T> {
    if (this.length === 0) return this;
    const buf = this.toArray();
    buf[buf.length - 1] = item;
    return new RowList(buf, 0, buf.length);
  }

  /** Index of the first item for which `fn` holds, else -1 (O(length)). */
  findIndex(fn: (item: T) => boolean): number {
    for (let i = 0; i < this.length; i++) if (fn(this.buf[this.start + i]!)) return i;
    return -1;
  }

  map<U>(fn: (item: T) => U): U[] {
    const out = new Array<U>(this.length);
    for (let i = 0; i < this.length; i++) out[i] = fn(this.buf[this.start + i]!);
    return out;
  }

  toArray(): T[] {
    return this.buf.slice(this.start, this.start + this.length);
  }

  *[Symbol.iterator](): Iterator<T> {
    for (let i = 0; i < this.length; i++) yield this.buf[this.start + i]!;
  }
}

/**
 * Index of the row with sequence number `seq` in a list ordered by `seq` (the buffer and every view
 * of it are), or -1: O(log n), so finding an expanded row never scans the buffer.
 */
export function indexOfSeq<T extends { seq: number }>(list: RowList<T>, seq: number): number {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const s = list.at(mid)!.seq;
    if (s === seq) return mid;
    if (s < seq) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** Index of the first row whose `seq` is >= `seq` (the list is ordered by `seq`): O(log n). */
export function lowerBoundSeq<T extends { seq: number }>(list: RowList<T>, seq: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list.at(mid)!.seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Where `item` goes in a list sorted by `after`: the index of the first element after it. Searched from
 * the end (galloping, then binary search), so an entry that belongs near the tail costs O(log distance).
 */
export function insertionIndexFromEnd<T, U>(list: RowList<T>, item: U, after: (row: T, item: U) => boolean): number {
  let hi = list.length;
  let lo = 0;
  let step = 1;
  while (hi > 0) {
    const i = Math.max(0, hi - step);
    if (!after(list.at(i)!, item)) {
      lo = i + 1;
      break;
    }
    hi = i;
    step *= 2;
  }
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (after(list.at(mid)!, item)) hi = mid;
    else lo = mid + 1;
  }
  return hi;
}
