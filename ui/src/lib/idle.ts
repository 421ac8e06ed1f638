// When the app locks by itself: after the shell's idle time without a touch or a key.
//
// The shell counts idle time from the last command or `still_here`; this timer counts
// from the last touch, reports activity to the shell now and then, and locks a little
// before the shell would. So the screen never shows data the shell already refuses,
// and an answer typed just before the lock is never refused half-way.

export interface IdleActions {
  /** Lock the screen (and tell the shell). */
  lock: () => void;
  /** Tell the shell the worker is still here. */
  active: () => void;
}

export class IdleTimer {
  private last: number;
  private reported: number;
  private done = false;
  /** Lock this long before the shell's own deadline. */
  readonly margin: number;
  /** Report activity to the shell at most this often. */
  readonly reportEvery: number;

  constructor(
    readonly lockAfterMs: number,
    private readonly now: () => number,
    private readonly actions: IdleActions,
  ) {
    this.last = now();
    this.reported = this.last;
    this.margin = Math.min(20_000, lockAfterMs / 3);
    this.reportEvery = Math.min(15_000, lockAfterMs / 4);
  }

  /** A touch, a key, typing. */
  used(): void {
    if (this.done) return;
    const t = this.now();
    this.last = t;
    if (t - this.reported >= this.reportEvery) {
      this.reported = t;
      this.actions.active();
    }
  }

  /** Called every second: lock when idle for long enough. Returns whether it locked. */
  check(): boolean {
    if (this.done) return false;
    if (this.now() - this.last >= this.lockAfterMs - this.margin) {
      this.done = true;
      this.actions.lock();
      return true;
    }
    return false;
  }
}
