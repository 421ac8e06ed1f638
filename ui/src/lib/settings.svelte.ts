// The user's interface settings, as reactive state shared by every component.

export const LOCALES = ['nl', 'en'] as const;
export type Locale = (typeof LOCALES)[number];

const STORAGE_KEY = 'voordeur.locale';

export function isLocale(value: unknown): value is Locale {
  return typeof value === 'string' && (LOCALES as readonly string[]).includes(value);
}

function storedLocale(): Locale {
  try {
    const value = globalThis.localStorage?.getItem(STORAGE_KEY);
    return isLocale(value) ? value : 'nl';
  } catch {
    return 'nl';
  }
}

export const settings = $state<{ locale: Locale }>({ locale: storedLocale() });

export function setLocale(locale: Locale): void {
  settings.locale = locale;
  try {
    globalThis.localStorage?.setItem(STORAGE_KEY, locale);
  } catch {
    // A locked-down webview without storage keeps the choice for this session only.
  }
  if (typeof document !== 'undefined') {
    document.documentElement.lang = locale;
  }
}
