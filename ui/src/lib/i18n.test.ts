import { describe, expect, it } from 'vitest';
import { en, nl, translate } from './i18n';

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

  it('has an English text for every Dutch key', () => {
    const missing = Object.keys(nl).filter((key) => !(key in en));
    expect(missing).toEqual([]);
  });
});
