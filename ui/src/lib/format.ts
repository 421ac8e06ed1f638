// Presentation of domain values, independent of any component. Dates and numbers go
// through `Intl` in the interface language's locale.

import type { HouseholdSummary } from './types';

/** The `Intl` locale of an interface language. */
export function intlLocale(locale: string): string {
  return locale === 'en' ? 'en-GB' : 'nl-NL';
}

/** "1234 AB Amsterdam", or just the postcode when the city is unknown. */
export function formatPlace(household: Pick<HouseholdSummary, 'postcode' | 'city'>): string {
  const city = household.city?.trim();
  return city ? `${household.postcode} ${city}` : household.postcode;
}

/** Resident names as a list in the language: "Anna, Bram en Cor". Empty when none. */
export function formatNames(names: readonly string[], locale: string): string {
  const clean = names.map((n) => n.trim()).filter((n) => n.length > 0);
  return new Intl.ListFormat(locale, { style: 'long', type: 'conjunction' }).format(clean);
}

/** A calendar day "YYYY-MM-DD" as "27 november 2026"; the text itself if not a date. */
export function formatDay(day: string, locale: string, style: 'long' | 'medium' = 'long'): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!m) return day;
  const date = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return new Intl.DateTimeFormat(intlLocale(locale), { dateStyle: style, timeZone: 'UTC' }).format(date);
}

/** A moment (RFC 3339 or ms) as a local date and time; the time only when it is today. */
export function formatMoment(when: string | number, locale: string, now: Date = new Date()): string {
  const date = new Date(when);
  if (Number.isNaN(date.getTime())) return String(when);
  const sameDay = date.toDateString() === now.toDateString();
  const options: Intl.DateTimeFormatOptions = sameDay
    ? { timeStyle: 'short' }
    : { dateStyle: 'medium', timeStyle: 'short' };
  return new Intl.DateTimeFormat(intlLocale(locale), options).format(date);
}

/** A number as the locale writes it: "12,5" in Dutch. */
export function formatNumber(n: number, locale: string, grouping = true): string {
  return new Intl.NumberFormat(intlLocale(locale), {
    maximumFractionDigits: 10,
    useGrouping: grouping,
  }).format(n);
}

/** The wall time (ms) of an HLC text `000001732730000000-0000000000-<device>`. */
export function hlcWallMs(hlc: string): number | null {
  const m = /^(\d{15})-(\d{10})-/.exec(hlc);
  return m ? Number(m[1]) : null;
}

/** The last 8 hex digits of a UUID (its random part in a v7), enough to tell devices and people apart. */
export function shortId(id: string | null | undefined): string {
  if (!id) return '—';
  return id.replace(/-/g, '').slice(-8);
}

/** Today as "YYYY-MM-DD" in local time. */
export function todayIso(now: Date = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${p(now.getMonth() + 1)}-${p(now.getDate())}`;
}
