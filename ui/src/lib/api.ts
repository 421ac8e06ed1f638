// The app's commands as typed functions, and the shell's events. Components call
// these, never `invoke` or `listen` directly. The types come from the Rust side
// (generated into ./bindings, re-exported by ./types); the command names and
// arguments follow `src-tauri/src/commands.rs` (Tauri maps `visit_id` to `visitId`).

import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import type {
  AppError,
  AppStatus,
  Conflict,
  DataChanged,
  ErrorKind,
  FollowUp,
  HouseholdDetail,
  HouseholdSummary,
  Id,
  JsonValue,
  Severity,
  SignalCategory,
  SyncState,
  TemplateSummary,
  UserInfo,
  VisitView,
} from './types';

export type { AppError } from './types';

/** The `kind` of an AppError: a stable tag the UI words in the user's language. */
export type AppErrorKind = ErrorKind;

/** Every `kind` of `voordeur_app_lib::ErrorKind`, in declaration order. */
export const ERROR_KINDS = [
  'store_unavailable',
  'store_locked',
  'invalid_input',
  'not_found',
  'invalid_answer',
  'missing_required',
  'visit_completed',
  'offline',
  'enrolment_refused',
  'invalid_url',
  'update_required',
  'unauthorized',
  'revoked',
  'not_enrolled',
  'server',
  'protocol',
  'store',
  'locked',
  'invalid_pin',
  'wrong_pin',
  'too_many_tries',
  'sync_required',
  'internal',
] as const satisfies readonly ErrorKind[];

// Fails to compile when the Rust enum gains a kind that is missing above.
type MissingKinds = Exclude<ErrorKind, (typeof ERROR_KINDS)[number]>;
const allKindsListed: MissingKinds extends never ? true : false = true;
void allKindsListed;

export function isAppError(value: unknown): value is AppError {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.kind === 'string' &&
    (ERROR_KINDS as readonly string[]).includes(v.kind) &&
    typeof v.message === 'string' &&
    (v.items === undefined ||
      (Array.isArray(v.items) && v.items.every((i) => typeof i === 'string')))
  );
}

/** Any rejection as an AppError: IPC failures and bugs become `internal`. */
export function toAppError(error: unknown): AppError {
  if (isAppError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return { kind: 'internal', message };
}

/** Called when a command answers `locked`: the shell locked the app (idle too long). */
let lockedHandler: (() => void) | null = null;
export function onLocked(handler: (() => void) | null): void {
  lockedHandler = handler;
}

async function call<T>(command: string, args: Record<string, unknown> = {}): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (error) {
    const e = toAppError(error);
    if (e.kind === 'locked') lockedHandler?.();
    throw e;
  }
}

/** Enrolled or not, as whom, and the sync state. */
export function appStatus(): Promise<AppStatus> {
  return call<AppStatus>('app_status');
}

/**
 * Enrol this device with a server address and a one-time code, with the PIN that
 * unlocks the app from then on; background sync starts after it. Errors: `offline`,
 * `enrolment_refused`, `invalid_url`, `update_required`, `invalid_input` (empty code),
 * `invalid_pin`.
 */
export function enrol(serverUrl: string, code: string, pin: string): Promise<UserInfo> {
  return call<UserInfo>('enrol', { serverUrl, code, pin });
}

/** Unlock with the PIN. Errors: `wrong_pin`, `too_many_tries`. */
export function unlock(pin: string): Promise<void> {
  return call<void>('unlock', { pin });
}

/** Lock the app now (idle timer, or the worker's "lock" button). */
export function lockNow(): Promise<void> {
  return call<void>('lock_now');
}

/** The worker is active (touch, typing): the shell's idle time starts again. */
export function stillHere(): Promise<void> {
  return call<void>('still_here');
}

/** How many households one list asks for at first, and more each time after. */
export const LIST_PAGE = 500;

/**
 * The first `limit` (default 500) households on this device matching `query`
 * (address, postcode, resident name), in address order.
 */
export function listHouseholds(query: string, limit?: number): Promise<HouseholdSummary[]> {
  return call<HouseholdSummary[]>('list_households', { query, limit: limit ?? null });
}

/** How many households match `query` (the list may hold fewer). */
export function countHouseholds(query: string): Promise<number> {
  return call<number>('count_households', { query });
}

/** A household with residents, visits (newest first), open signals and follow-ups. */
export function householdDetail(id: Id): Promise<HouseholdDetail> {
  return call<HouseholdDetail>('household_detail', { id });
}

/** The latest published version of each template. */
export function listTemplates(): Promise<TemplateSummary[]> {
  return call<TemplateSummary[]>('list_templates');
}

/** Start a visit; resolves to the new visit's id. */
export function startVisit(householdId: Id, templateId: Id): Promise<Id> {
  return call<Id>('start_visit', { householdId, templateId });
}

/** A visit with its answers and notes, its template version and its household. */
export function openVisit(visitId: Id): Promise<VisitView> {
  return call<VisitView>('open_visit', { visitId });
}

/**
 * Save one answer (`null` clears it; any JSON value, checked on the Rust side);
 * resolves to the canonical value stored. A value that does not fit rejects with
 * kind `invalid_answer` and `items: [item]`.
 */
export function answer(visitId: Id, item: string, value: unknown): Promise<JsonValue> {
  return call<JsonValue>('answer', { visitId, item, value });
}

/** Add a note to a visit; resolves to the note's id. */
export function addNote(visitId: Id, text: string): Promise<Id> {
  return call<Id>('add_note', { visitId, text });
}

export function editNote(noteId: Id, text: string): Promise<void> {
  return call<void>('edit_note', { noteId, text });
}

/** Raise a signal about a household (from a visit or not); resolves to its id. */
export function raiseSignal(
  householdId: Id,
  visitId: Id | null,
  category: SignalCategory,
  severity: Severity,
  description: string | null,
): Promise<Id> {
  return call<Id>('raise_signal', { householdId, visitId, category, severity, description });
}

/** Agree a follow-up, due `YYYY-MM-DD`; resolves to its id. */
export function addFollowUp(
  householdId: Id,
  visitId: Id | null,
  due: string,
  text: string,
): Promise<Id> {
  return call<Id>('add_follow_up', { householdId, visitId, due, text });
}

/**
 * Complete a visit and sync it in the background. Required items left open reject
 * with kind `missing_required` and `items` naming them.
 */
export function completeVisit(visitId: Id): Promise<void> {
  return call<void>('complete_visit', { visitId });
}

/** Open follow-ups of the enrolled user (all, when not enrolled), overdue first. */
export function myFollowUps(): Promise<FollowUp[]> {
  return call<FollowUp[]>('my_follow_ups');
}

/** Open conflicts, each with every competing value. */
export function listConflicts(): Promise<Conflict[]> {
  return call<Conflict[]>('list_conflicts');
}

/** Resolve a conflict with the chosen value (one of the competing values, or a new one). */
export function resolveConflict(id: Id, value: unknown): Promise<void> {
  return call<void>('resolve_conflict', { id, value });
}

/** Ask background sync to run now; resolves at once, progress comes as `sync-status`. */
export function syncNow(): Promise<void> {
  return call<void>('sync_now');
}

/** Every change of the sync state (also after each local write). */
export function onSyncStatus(cb: (state: SyncState) => void): Promise<UnlistenFn> {
  return listen<SyncState>('sync-status', (event) => cb(event.payload));
}

/** A sync applied changes from the server: reload what the screen shows. */
export function onDataChanged(cb: (change: DataChanged) => void): Promise<UnlistenFn> {
  return listen<DataChanged>('data-changed', (event) => cb(event.payload));
}
