// @vitest-environment jsdom
import { fireEvent, render, screen } from '@testing-library/svelte';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { SyncState } from '../types';
import { setLocale } from '../settings.svelte';
import SyncStatus from './SyncStatus.svelte';

const show = (status: SyncState | null, busy = false) => {
  const onsync = vi.fn();
  render(SyncStatus, { status, busy, onsync });
  return { onsync, text: screen.getByRole('status').textContent!.replace(/\s+/g, ' ').trim() };
};

describe('SyncStatus', () => {
  beforeEach(() => setLocale('nl'));

  it('offline, with the changes waiting', () => {
    expect(show({ state: 'offline', waiting: 3 }).text).toBe('Synchronisatie: Offline 3 wijzigingen wachten');
  });

  it('syncing with progress, and the button waits', () => {
    const { text } = show({ state: 'syncing', waiting: 5, progress: { phase: 'push', done: 2, total: 5 } });
    expect(text).toContain('Versturen 2 van 5');
    expect((screen.getByRole('button', { name: 'Nu synchroniseren' }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('up to date with the time', () => {
    const last = new Date();
    last.setHours(14, 5, 0, 0);
    expect(show({ state: 'up_to_date', waiting: 0, last_sync: last.toISOString() }).text).toContain(
      'Bijgewerkt 14:05',
    );
  });

  it('N changes waiting, counted in the language', () => {
    expect(show({ state: 'waiting', waiting: 1 }).text).toContain('1 wijziging wacht');
    setLocale('en');
  });

  it('in English', () => {
    setLocale('en');
    expect(show({ state: 'waiting', waiting: 1200 }).text).toContain('1,200 changes waiting');
  });

  it('an error with its reason', () => {
    const { text } = show({ state: 'error', waiting: 0, error: { code: 'device_revoked', message: '401' } });
    expect(text).toContain('Synchroniseren mislukt');
    expect(text).toContain('ingetrokken');
  });

  it('announces politely and syncs on the button', async () => {
    const { onsync } = show({ state: 'up_to_date', waiting: 0 });
    expect(screen.getByRole('status').getAttribute('aria-live')).toBe('polite');
    await fireEvent.click(screen.getByRole('button', { name: 'Nu synchroniseren' }));
    expect(onsync).toHaveBeenCalled();
  });

  it('has no sync button before enrolment', () => {
    show({ state: 'not_enrolled', waiting: 0 });
    expect(screen.queryByRole('button')).toBeNull();
  });
});
