import { describe, expect, it } from 'vitest';
import { IdleTimer } from './idle';

function setup(lockAfterMs: number) {
  let now = 1_000_000;
  const calls: string[] = [];
  const timer = new IdleTimer(lockAfterMs, () => now, {
    lock: () => calls.push('lock'),
    active: () => calls.push('active'),
  });
  return {
    timer,
    calls,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('IdleTimer', () => {
  it('locks before the shell would, once', () => {
    const { timer, calls, advance } = setup(300_000);
    advance(279_000);
    expect(timer.check()).toBe(false);
    advance(1_000);
    expect(timer.check()).toBe(true);
    expect(timer.check()).toBe(false);
    expect(calls).toEqual(['lock']);
  });

  it('starts the idle time again on every touch and reports it now and then', () => {
    const { timer, calls, advance } = setup(300_000);
    for (let i = 0; i < 10; i++) {
      advance(200_000);
      timer.used();
      expect(timer.check()).toBe(false);
    }
    expect(calls.every((c) => c === 'active')).toBe(true);
    expect(calls.length).toBe(10);
    // Many touches close together are reported once.
    const before = calls.length;
    for (let i = 0; i < 20; i++) {
      advance(100);
      timer.used();
    }
    expect(calls.length).toBe(before);
  });

  it('keeps the margins in proportion for short lock times', () => {
    const { timer, calls, advance } = setup(12_000);
    expect(timer.margin).toBe(4_000);
    expect(timer.reportEvery).toBe(3_000);
    advance(7_999);
    expect(timer.check()).toBe(false);
    advance(1);
    expect(timer.check()).toBe(true);
    expect(calls).toEqual(['lock']);
  });
});
