// Presentation of domain values, independent of any component.

import type { HouseholdSummary } from './types';

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
