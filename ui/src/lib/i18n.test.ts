import { describe, expect, it } from 'vitest';
import { en, nl, pluralKey, translate } from './i18n';

describe('translate', () => {
  it('uses the requested language', () => {
    expect(translate('nl', 'search.label')).toBe('Zoeken');
    expect(translate('en', 'search.label')).toBe('Search');
  });

  it('falls back to Dutch for an unknown language', () => {
    expect(translate('fr', 'households.empty')).toBe('Nog geen huishoudens op dit apparaat.');
  });

  it('shows an unknown key as itself instead of failing', () => {
    expect(translate('en', 'no.such.key')).toBe('no.such.key');
  });

  it('fills placeholders and leaves unknown ones visible', () => {
    expect(translate('nl', 'households.noMatch', { query: 'Kerkstraat' })).toBe(
      'Geen huishoudens gevonden voor “Kerkstraat”.',
    );
    expect(translate('en', 'households.count.other', {})).toBe('{count} households');
  });

  it('picks the plural form by the language rules', () => {
    expect(pluralKey('nl', 'sync.waiting', 1)).toBe('sync.waiting.one');
    expect(pluralKey('en', 'sync.waiting', 3)).toBe('sync.waiting.other');
  });
});

describe('message files', () => {
  it('have exactly the same keys in Dutch and English', () => {
    expect(Object.keys(en).sort()).toEqual(Object.keys(nl).sort());
  });

  it('have no empty texts and the same placeholders in both languages', () => {
    const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const key of Object.keys(nl) as (keyof typeof nl)[]) {
      expect(nl[key].trim(), key).not.toBe('');
      expect(en[key].trim(), key).not.toBe('');
      expect(placeholders(en[key]), key).toEqual(placeholders(nl[key]));
    }
  });

  it('has a text for every signal category, severity and entity the data can hold', () => {
    const cats = ['debts', 'benefits', 'housing', 'isolation', 'health', 'safety', 'language', 'education', 'other'];
    for (const c of cats) expect(c in nl || `category.${c}` in nl).toBe(true);
    for (const s of ['low', 'medium', 'high']) expect(`severity.${s}` in nl).toBe(true);
  });
});

import { ERROR_KINDS } from './api';

describe('error kinds', () => {
  it('every error kind the shell can send has its own text in both languages', () => {
    for (const kind of ERROR_KINDS) {
      expect(Object.keys(nl)).toContain(`error.${kind}`);
      expect(Object.keys(en)).toContain(`error.${kind}`);
    }
  });
});
