// TEMPORARY stand-in for the generated bindings and the typed command wrappers that
// are being written in `api.ts` / `types.ts`. Delete once those land.

import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';

export type Id = string;
export interface Label {
  nl: string;
  en: string;
}
export interface AppError {
  kind: string;
  message: string;
  items?: string[];
}
export function toAppError(error: unknown): AppError {
  if (typeof error === 'object' && error !== null && 'kind' in error) return error as AppError;
  return { kind: 'internal', message: error instanceof Error ? error.message : String(error) };
}

export interface UserInfo {
  id: Id;
  name: string;
  role: 'worker' | 'team_lead' | 'admin';
  team_id: Id | null;
  team_name: string | null;
}
export type SyncStateKind = 'not_enrolled' | 'offline' | 'syncing' | 'up_to_date' | 'waiting' | 'error';
export interface SyncState {
  state: SyncStateKind;
  waiting: number;
  progress?: { phase: 'push' | 'pull'; done: number; total?: number | null } | null;
  last_sync?: string | null;
  error?: { code: string; message: string } | null;
}
export interface AppStatus {
  enrolled: boolean;
  user?: UserInfo | null;
  server_url?: string | null;
  sync: SyncState;
}
export interface HouseholdSummary {
  id: Id;
  address: string;
  postcode: string;
  city: string | null;
  residents: string[];
}
export interface Household {
  id: Id;
  address: string;
  postcode: string;
  city: string | null;
  neighbourhood: string | null;
  team_id: Id | null;
}
export interface Resident {
  id: Id;
  household_id: Id;
  name: string;
  birth_year: number | null;
  contact: string | null;
}
export type VisitStatus = 'draft' | 'completed';
export interface Visit {
  id: Id;
  household_id: Id;
  template_id: Id;
  template_version: number;
  author_id: Id | null;
  started_at: string | null;
  ended_at: string | null;
  status: VisitStatus;
}
export type SignalCategory =
  | 'debts'
  | 'benefits'
  | 'housing'
  | 'isolation'
  | 'health'
  | 'safety'
  | 'language'
  | 'education'
  | 'other';
export type Severity = 'low' | 'medium' | 'high';
export interface Signal {
  id: Id;
  household_id: Id;
  visit_id: Id | null;
  category: SignalCategory;
  severity: Severity;
  status: 'open' | 'handled';
  description: string | null;
}
export interface FollowUp {
  id: Id;
  household_id: Id;
  visit_id: Id | null;
  assignee_id: Id | null;
  due: string;
  text: string;
  status: 'open' | 'done';
  overdue: boolean;
}
export interface HouseholdDetail {
  household: Household;
  residents: Resident[];
  visits: Visit[];
  open_signals: Signal[];
  open_follow_ups: FollowUp[];
}
export interface TemplateSummary {
  id: Id;
  version: number;
  name: Label;
}
export type JsonValue = unknown;
export type Match =
  | { equals: JsonValue }
  | { includes: string }
  | { at_least: number }
  | { at_most: number };
export type Condition = { item: string } & Match;
export interface ChoiceOption {
  value: string;
  label: Label;
}
export type ItemKind =
  | { type: 'yes_no' }
  | { type: 'single_choice'; options: ChoiceOption[] }
  | { type: 'multiple_choice'; options: ChoiceOption[] }
  | { type: 'scale'; min: number; max: number; min_label?: Label | null; max_label?: Label | null }
  | { type: 'number'; min?: number | null; max?: number | null }
  | { type: 'text' }
  | { type: 'date' };
export interface SignalRule {
  category: SignalCategory;
  severity: Severity;
  when: Match;
}
export interface Item {
  id: string;
  label: Label;
  help?: Label | null;
  kind: ItemKind;
  required?: boolean;
  show_if?: Condition | null;
  signal?: SignalRule | null;
}
export interface Section {
  id: string;
  title: Label;
  items: Item[];
}
export interface ChecklistTemplate {
  id: Id;
  name: Label;
  version: number;
  status: 'draft' | 'published';
  sections: Section[];
}
export interface Answer {
  item: string;
  value: JsonValue;
  version: string;
}
export interface Note {
  id: Id;
  visit_id: Id;
  author_id: Id | null;
  text: string;
  created_at: string | null;
}
export interface VisitDetail {
  visit: Visit;
  answers: Answer[];
  notes: Note[];
}
export interface OpenedVisit {
  detail: VisitDetail;
  template: ChecklistTemplate;
  household: Household;
}
export interface ConflictValue {
  value: JsonValue;
  hlc: string;
  device: Id;
  author: Id | null;
  change_id: Id;
}
export interface Conflict {
  id: Id;
  entity: string;
  record_id: Id;
  field: string;
  values: ConflictValue[];
  status: 'open' | 'resolved';
}

async function call<T>(command: string, args: Record<string, unknown> = {}): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (e) {
    throw toAppError(e);
  }
}

export const appStatus = () => call<AppStatus>('app_status');
export const enrol = (serverUrl: string, code: string) => call<UserInfo>('enrol', { serverUrl, code });
export const listHouseholds = (query: string) => call<HouseholdSummary[]>('list_households', { query });
export const householdDetail = (id: Id) => call<HouseholdDetail>('household_detail', { id });
export const listTemplates = () => call<TemplateSummary[]>('list_templates');
export const startVisit = (householdId: Id, templateId: Id) =>
  call<string>('start_visit', { householdId, templateId });
export const openVisit = (visitId: Id) => call<OpenedVisit>('open_visit', { visitId });
export const answer = (visitId: Id, item: string, value: unknown) =>
  call<unknown>('answer', { visitId, item, value });
export const addNote = (visitId: Id, text: string) => call<string>('add_note', { visitId, text });
export const editNote = (noteId: Id, text: string) => call<void>('edit_note', { noteId, text });
export const raiseSignal = (
  householdId: Id,
  visitId: Id | null,
  category: SignalCategory,
  severity: Severity,
  description: string | null,
) => call<string>('raise_signal', { householdId, visitId, category, severity, description });
export const addFollowUp = (householdId: Id, visitId: Id | null, due: string, text: string) =>
  call<string>('add_follow_up', { householdId, visitId, due, text });
export const completeVisit = (visitId: Id) => call<void>('complete_visit', { visitId });
export const myFollowUps = () => call<FollowUp[]>('my_follow_ups');
export const listConflicts = () => call<Conflict[]>('list_conflicts');
export const resolveConflict = (id: Id, value: unknown) => call<void>('resolve_conflict', { id, value });
export const syncNow = () => call<void>('sync_now');
export const onSyncStatus = (cb: (s: SyncState) => void): Promise<UnlistenFn> =>
  listen<SyncState>('sync-status', (e) => cb(e.payload));
export const onDataChanged = (cb: (p: { pulled: number }) => void): Promise<UnlistenFn> =>
  listen<{ pulled: number }>('data-changed', (e) => cb(e.payload));
