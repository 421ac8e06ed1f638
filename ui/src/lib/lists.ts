// Ordering and presentation rules of the follow-up and conflict screens.

import type { ConflictValue, FollowUp } from './types';
import { formatDay, formatNumber } from './format';

/** Overdue first, then by due day (earliest first), open before done. */
export function sortFollowUps(items: readonly FollowUp[]): FollowUp[] {
  return [...items].sort(
    (a, b) =>
      Number(a.status === 'done') - Number(b.status === 'done') ||
      Number(b.overdue) - Number(a.overdue) ||
      a.due.localeCompare(b.due) ||
      a.text.localeCompare(b.text),
  );
}

/** The value of one side of a conflict as a worker reads it. */
export function formatConflictValue(
  value: unknown,
  locale: string,
  words: { yes: string; no: string; empty: string },
): string {
  if (value === null || value === undefined || value === '') return words.empty;
  if (value === true) return words.yes;
  if (value === false) return words.no;
  if (typeof value === 'number') return formatNumber(value, locale);
  if (typeof value === 'string') return /^\d{4}-\d{2}-\d{2}$/.test(value) ? formatDay(value, locale) : value;
  if (Array.isArray(value)) return value.map((v) => formatConflictValue(v, locale, words)).join(', ');
  return JSON.stringify(value);
}

/** The side that wins today (highest HLC): what every device shows until resolved. */
export function currentWinner(values: readonly ConflictValue[]): ConflictValue | undefined {
  return [...values].sort((a, b) => b.hlc.localeCompare(a.hlc))[0];
}
