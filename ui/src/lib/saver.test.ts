import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AnswerSaver, type SaveState } from './saver';

describe('AnswerSaver', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function setup(write = vi.fn(async () => undefined)) {
    const states: SaveState[] = [];
    const saver = new AnswerSaver({ write, onstate: (s) => states.push(s) });
    return { saver, write, states };
  }

  it('writes a tap at once', async () => {
    const { saver, write, states } = setup();
    saver.schedule('a', true);
    await vi.runAllTimersAsync();
    expect(write).toHaveBeenCalledWith('a', true);
    expect(states.at(-1)).toBe('saved');
  });

  it('writes typing once, after the pause, with the last value', async () => {
    const { saver, write } = setup();
    saver.schedule('t', 'h', 400);
    saver.schedule('t', 'ha', 400);
    saver.schedule('t', 'hal', 400);
    await vi.advanceTimersByTimeAsync(399);
    expect(write).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(write).toHaveBeenCalledTimes(1);
    expect(write).toHaveBeenCalledWith('t', 'hal');
  });

  it('writes at once on flush (leaving the field)', async () => {
    const { saver, write } = setup();
    saver.schedule('t', 'hallo', 400);
    await saver.flush('t');
    expect(write).toHaveBeenCalledWith('t', 'hallo');
    await vi.runAllTimersAsync();
    expect(write).toHaveBeenCalledTimes(1);
  });

  it('reports a failed write and recovers on the next', async () => {
    const write = vi.fn().mockRejectedValueOnce({ kind: 'store' }).mockResolvedValue(undefined);
    const { saver, states } = setup(write);
    saver.schedule('a', 1);
    await vi.runAllTimersAsync();
    expect(states.at(-1)).toBe('error');
    expect(saver.hasFailed('a')).toBe(true);
    saver.schedule('a', 2);
    await vi.runAllTimersAsync();
    expect(states.at(-1)).toBe('saved');
  });

  it('flushAll waits for every pending write', async () => {
    const { saver, write } = setup();
    saver.schedule('a', 'x', 400);
    saver.schedule('b', 'y', 400);
    await saver.flushAll();
    expect(write).toHaveBeenCalledTimes(2);
    expect(saver.dirty).toBe(false);
  });
});
