// Saves answers as the worker works: each item's latest value is written once the
// typing pauses (or at once, for taps), one write per item in flight, in order. The
// overall state drives the quiet "Opgeslagen" indicator.

export type SaveState = 'idle' | 'saving' | 'saved' | 'error';

export interface SaverOptions {
  write: (item: string, value: unknown) => Promise<unknown>;
  onstate: (state: SaveState, failed: ReadonlySet<string>) => void;
  onsaved?: (item: string, value: unknown) => void;
}

export class AnswerSaver {
  private timers = new Map<string, ReturnType<typeof setTimeout>>();
  private pending = new Map<string, unknown>();
  private inflight = new Map<string, Promise<void>>();
  private failed = new Set<string>();
  private busy = 0;

  constructor(private readonly options: SaverOptions) {}

  /** Save `value` for `item` after `delayMs` without a newer value (0: now). */
  schedule(item: string, value: unknown, delayMs = 0): void {
    this.pending.set(item, value);
    const old = this.timers.get(item);
    if (old !== undefined) clearTimeout(old);
    if (delayMs <= 0) {
      this.timers.delete(item);
      void this.flush(item);
    } else {
      this.timers.set(
        item,
        setTimeout(() => {
          this.timers.delete(item);
          void this.flush(item);
        }, delayMs),
      );
      this.report();
    }
  }

  /** Write the item's pending value now (on blur, before completing the visit). */
  async flush(item: string): Promise<void> {
    const timer = this.timers.get(item);
    if (timer !== undefined) {
      clearTimeout(timer);
      this.timers.delete(item);
    }
    // Writes of one item go in order: wait for the one in flight first.
    const previous = this.inflight.get(item);
    if (previous) await previous;
    if (!this.pending.has(item)) {
      // Another flush took the value: wait until its write is done.
      const current = this.inflight.get(item);
      if (current) await current;
      return;
    }
    const value = this.pending.get(item);
    this.pending.delete(item);
    const run = this.write(item, value);
    this.inflight.set(item, run);
    await run;
    if (this.inflight.get(item) === run) this.inflight.delete(item);
  }

  /** Write everything pending. */
  async flushAll(): Promise<void> {
    const items = new Set([...this.pending.keys(), ...this.inflight.keys()]);
    await Promise.all([...items].map((i) => this.flush(i)));
  }

  /** Is anything waiting or being written? */
  get dirty(): boolean {
    return this.pending.size > 0 || this.busy > 0;
  }

  /** Items with a value not yet written: keep showing the local value for these. */
  unsaved(): Set<string> {
    return new Set([...this.pending.keys(), ...this.inflight.keys()]);
  }

  hasFailed(item: string): boolean {
    return this.failed.has(item);
  }

  private async write(item: string, value: unknown): Promise<void> {
    this.busy++;
    this.report();
    try {
      await this.options.write(item, value);
      this.failed.delete(item);
      this.options.onsaved?.(item, value);
    } catch {
      this.failed.add(item);
    } finally {
      this.busy--;
      this.report();
    }
  }

  private report(): void {
    const state: SaveState =
      this.busy > 0 || this.timers.size > 0
        ? 'saving'
        : this.failed.size > 0
          ? 'error'
          : 'saved';
    this.options.onstate(state, new Set(this.failed));
  }
}
