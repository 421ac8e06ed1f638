import { afterEach, describe, expect, it, vi } from 'vitest';
import { clearPrefetched, FRESH_MS, prefetch, take } from './prefetch';

describe('prefetch', () => {
  afterEach(() => clearPrefetched());

  it('hands the early answer to the screen once, without asking again', async () => {
    const early = vi.fn(() => Promise.resolve('early'));
    const late = vi.fn(() => Promise.resolve('late'));
    prefetch('visit:1', early, 1_000);
    expect(early).toHaveBeenCalledTimes(1);
    await expect(take('visit:1', late, 1_050)).resolves.toBe('early');
    expect(late).not.toHaveBeenCalled();
    // A second load (after pulled changes, say) asks anew.
    await expect(take('visit:1', late, 1_100)).resolves.toBe('late');
    expect(late).toHaveBeenCalledTimes(1);
  });

  it('asks anew for another key or when the early answer is stale', async () => {
    const late = vi.fn(() => Promise.resolve('late'));
    prefetch('visit:1', () => Promise.resolve('early'), 0);
    await expect(take('visit:2', late, 10)).resolves.toBe('late');
    await expect(take('visit:1', late, FRESH_MS + 1)).resolves.toBe('late');
    expect(late).toHaveBeenCalledTimes(2);
  });

  it('passes a failure to whoever takes it, and only then', async () => {
    prefetch('households:', () => Promise.reject(new Error('offline')), 0);
    // Nothing unhandled while nobody has taken it yet.
    await new Promise((r) => setTimeout(r, 0));
    await expect(take('households:', () => Promise.resolve([]), 5)).rejects.toThrow('offline');
  });
});
