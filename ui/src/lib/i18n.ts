// Interface texts. Dutch is the default and the reference: every key exists in `nl`;
// a key missing in another language falls back to Dutch, and an unknown key shows
// itself, so a gap is visible but never breaks the screen.

import { settings, type Locale } from './settings.svelte';

export const nl = {
  'app.title': 'Voordeur',
  'app.switchLanguage': 'English',
  'app.switchLanguageLabel': 'Switch to English',
  'search.label': 'Zoeken',
  'search.placeholder': 'Adres, postcode of naam',
  'households.heading': 'Huishoudens',
  'households.count.one': '{count} huishouden',
  'households.count.other': '{count} huishoudens',
  'households.empty': 'Nog geen huishoudens op dit apparaat.',
  'households.noMatch': 'Geen huishoudens gevonden voor “{query}”.',
  'households.loading': 'Huishoudens laden…',
  'households.residents': 'Bewoners',
  'households.noResidents': 'Geen bewoners bekend',
  'error.title': 'Er ging iets mis',
  'error.store_unavailable': 'De database op dit apparaat kon niet worden geopend.',
  'error.store_locked': 'De database op dit apparaat is vergrendeld of beschadigd.',
  'error.invalid_input': 'Deze zoekopdracht kan niet worden uitgevoerd.',
  'error.store': 'De gegevens op dit apparaat konden niet worden gelezen.',
  'error.internal': 'Er is een onverwachte fout opgetreden.',
  'error.details': 'Technische details',
  'error.retry': 'Opnieuw proberen',
} as const;

export type MessageKey = keyof typeof nl;
export type Messages = Partial<Record<MessageKey, string>>;

export const en: Messages = {
  'app.title': 'Voordeur',
  'app.switchLanguage': 'Nederlands',
  'app.switchLanguageLabel': 'Wissel naar Nederlands',
  'search.label': 'Search',
  'search.placeholder': 'Address, postcode or name',
  'households.heading': 'Households',
  'households.count.one': '{count} household',
  'households.count.other': '{count} households',
  'households.empty': 'No households on this device yet.',
  'households.noMatch': 'No households found for “{query}”.',
  'households.loading': 'Loading households…',
  'households.residents': 'Residents',
  'households.noResidents': 'No residents known',
  'error.title': 'Something went wrong',
  'error.store_unavailable': 'The database on this device could not be opened.',
  'error.store_locked': 'The database on this device is locked or damaged.',
  'error.invalid_input': 'This search cannot be run.',
  'error.store': 'The data on this device could not be read.',
  'error.internal': 'An unexpected error occurred.',
  'error.details': 'Technical details',
  'error.retry': 'Try again',
};

export const catalogues: Record<Locale, Messages> = { nl, en };

export type Vars = Record<string, string | number>;

/** The text for `key` in `locale`, with `{name}` placeholders filled from `vars`. */
export function translate(locale: string, key: string, vars: Vars = {}): string {
  const catalogue: Messages = catalogues[locale as Locale] ?? nl;
  const text = catalogue[key as MessageKey] ?? nl[key as MessageKey] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in vars ? String(vars[name]) : whole,
  );
}

/** The text for `key` in the current language. Reactive inside components. */
export function t(key: MessageKey, vars?: Vars): string {
  return translate(settings.locale, key, vars);
}

/** A counted text: uses `<key>.one` or `<key>.other` by the language's plural rules. */
export function tCount(key: 'households.count', count: number): string {
  const locale = settings.locale;
  const form = new Intl.PluralRules(locale).select(count) === 'one' ? 'one' : 'other';
  return translate(locale, `${key}.${form}`, { count });
}
