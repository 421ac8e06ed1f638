import { describe, expect, it } from 'vitest';
import type { SyncState } from './types';
import { syncStatusText } from './status';

const time = (iso: string) => `T(${iso})`;
const base: SyncState = { state: 'up_to_date', waiting: 0 };

describe('syncStatusText', () => {
  it('says offline, with the changes waiting', () => {
    expect(syncStatusText({ ...base, state: 'offline', waiting: 3 }, time)).toMatchObject({
      key: 'sync.offline',
      tone: 'warning',
      detail: { key: 'sync.waiting', count: 3 },
    });
    expect(syncStatusText({ ...base, state: 'offline' }, time).detail).toBeUndefined();
  });

  it('shows progress while syncing', () => {
    expect(
      syncStatusText({ ...base, state: 'syncing', progress: { phase: 'push', done: 2, total: 5 } }, time),
    ).toMatchObject({ key: 'sync.sending.total', vars: { done: 2, total: 5 }, tone: 'busy' });
    expect(
      syncStatusText({ ...base, state: 'syncing', progress: { phase: 'pull', done: 40 } }, time),
    ).toMatchObject({ key: 'sync.receiving.done', vars: { done: 40 } });
    expect(syncStatusText({ ...base, state: 'syncing' }, time).key).toBe('sync.syncing');
  });

  it('says up to date with the time of the last sync', () => {
    expect(syncStatusText({ ...base, last_sync: '2026-11-27T10:00:00Z' }, time)).toMatchObject({
      key: 'sync.upToDateAt',
      vars: { time: 'T(2026-11-27T10:00:00Z)' },
      tone: 'ok',
    });
    expect(syncStatusText(base, time).key).toBe('sync.upToDate');
  });

  it('counts the changes waiting', () => {
    expect(syncStatusText({ ...base, state: 'waiting', waiting: 1 }, time)).toMatchObject({
      key: 'sync.waiting',
      count: 1,
    });
  });

  it('gives the reason of an error in words, or the message when unknown', () => {
    expect(
      syncStatusText({ ...base, state: 'error', error: { code: 'update_required', message: 'x' } }, time),
    ).toMatchObject({ key: 'sync.error', tone: 'error', detail: { key: 'sync.reason.update_required' } });
    expect(
      syncStatusText({ ...base, state: 'error', error: { code: 'weird', message: 'disk full' } }, time)
        .detail,
    ).toEqual({ key: 'sync.reason.other', vars: { message: 'disk full' } });
  });

  it('knows a device that is not enrolled', () => {
    expect(syncStatusText({ ...base, state: 'not_enrolled' }, time).key).toBe('sync.notEnrolled');
  });
});
