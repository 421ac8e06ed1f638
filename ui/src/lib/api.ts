// The app's commands as typed functions. Components call these, never `invoke`.

import { invoke } from '@tauri-apps/api/core';
import type { HouseholdSummary } from './types';

/** The `kind` tags of `voordeur_app_lib::AppError`. */
export const ERROR_KINDS = [
  'store_unavailable',
  'store_locked',
  'invalid_input',
  'store',
  'internal',
] as const;
export type AppErrorKind = (typeof ERROR_KINDS)[number];

/** What a failed command rejects with: `{ kind, message }`. */
export interface AppError {
  kind: AppErrorKind;
  /** English detail for support; the UI shows a translated text for `kind`. */
  message: string;
}

export function isAppError(value: unknown): value is AppError {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.kind === 'string' &&
    (ERROR_KINDS as readonly string[]).includes(v.kind) &&
    typeof v.message === 'string'
  );
}

/** Any rejection as an AppError: IPC failures and bugs become `internal`. */
export function toAppError(error: unknown): AppError {
  if (isAppError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return { kind: 'internal', message };
}

async function call<T>(command: string, args: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (error) {
    throw toAppError(error);
  }
}

/** Households on this device matching `query`; an empty query lists all. */
export function listHouseholds(query: string): Promise<HouseholdSummary[]> {
  return call<HouseholdSummary[]>('list_households', { query });
}
