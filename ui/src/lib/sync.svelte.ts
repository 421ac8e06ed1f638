// The sync status as shared reactive state, fed by the shell's events (never by polling
// the database), and a counter that screens watch to reload after pulled changes.

import { appStatus, onDataChanged, onSyncStatus, syncNow } from './api';
import type { SyncState } from './types';

export const sync = $state<{ status: SyncState | null; dataVersion: number; requesting: boolean }>({
  status: null,
  dataVersion: 0,
  requesting: false,
});

let started = false;

/** Subscribe to the shell's events once; `initial` is the status from `appStatus`. */
export async function startSyncEvents(initial?: SyncState): Promise<void> {
  if (initial) sync.status = initial;
  if (started) return;
  started = true;
  await onSyncStatus((s) => {
    sync.status = s;
  });
  await onDataChanged(() => {
    sync.dataVersion++;
  });
}

/** Ask the shell to sync now; the result arrives as status events. */
export async function requestSync(): Promise<void> {
  sync.requesting = true;
  try {
    await syncNow();
  } catch {
    // The failure reaches the header as an `error` sync status.
  } finally {
    sync.requesting = false;
  }
}

/** Reload the status after enrolment. */
export async function refreshStatus(): Promise<void> {
  try {
    sync.status = (await appStatus()).sync;
  } catch {
    // Keep the last known status.
  }
}
