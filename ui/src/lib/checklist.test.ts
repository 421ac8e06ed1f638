import { describe, expect, it } from 'vitest';
import {
  canonicalChoices,
  countBySection,
  firstSectionWith,
  isRelevant,
  matches,
  missingRequired,
  parseDutchNumber,
  readNumber,
  sectionOfItem,
  sectionProgress,
  suggestedSignals,
  toggleChoice,
  visibleItemIds,
} from './checklist';
import { items, template } from './testdata';
import basis from '../../../templates/huisbezoek-basis.json';
import type { ChecklistTemplate } from './types';

describe('matches (Match::matches)', () => {
  it('compares numbers by value and everything else as JSON', () => {
    expect(matches({ equals: 3 }, 3.0)).toBe(true);
    expect(matches({ equals: true }, true)).toBe(true);
    expect(matches({ equals: true }, 'true')).toBe(false);
    expect(matches({ equals: 'geen' }, 'geen')).toBe(true);
  });

  it('tests inclusion in a selection or a single string', () => {
    expect(matches({ includes: 'b' }, ['a', 'b'])).toBe(true);
    expect(matches({ includes: 'b' }, 'b')).toBe(true);
    expect(matches({ includes: 'b' }, ['a'])).toBe(false);
  });

  it('tests bounds on numbers only', () => {
    expect(matches({ at_least: 4 }, 4)).toBe(true);
    expect(matches({ at_least: 4 }, 3)).toBe(false);
    expect(matches({ at_most: 2 }, 2)).toBe(true);
    expect(matches({ at_most: 2 }, '1')).toBe(false);
  });
});

describe('conditions (is_relevant)', () => {
  it('shows an item only while its condition holds', () => {
    expect(isRelevant(template, items.bedrag, {})).toBe(false);
    expect(isRelevant(template, items.bedrag, { schulden: false })).toBe(false);
    expect(isRelevant(template, items.bedrag, { schulden: true })).toBe(true);
  });

  it('hides an item whose condition refers to a hidden item (chained)', () => {
    // The bailiff question depends on the amount, which depends on debts.
    expect(isRelevant(template, items.deurwaarder, { schulden: true, bedrag: 2500 })).toBe(true);
    expect(isRelevant(template, items.deurwaarder, { schulden: false, bedrag: 2500 })).toBe(false);
    expect(isRelevant(template, items.deurwaarder, { schulden: true, bedrag: 10 })).toBe(false);
  });

  it('lists the visible items as answers change', () => {
    const before = visibleItemIds(template, {});
    expect(before.has('bedrag')).toBe(false);
    expect(before.has('toelichting')).toBe(false);
    const after = visibleItemIds(template, { schulden: true, eenzaam: 5 });
    expect(after.has('bedrag')).toBe(true);
    expect(after.has('toelichting')).toBe(true);
  });
});

describe('validation (missing_required)', () => {
  it('counts required items only when shown, in template order', () => {
    expect(missingRequired(template, {})).toEqual(['schulden']);
    expect(missingRequired(template, { schulden: false })).toEqual([]);
    expect(missingRequired(template, { schulden: true })).toEqual(['bedrag']);
    expect(missingRequired(template, { schulden: true, bedrag: 0 })).toEqual([]);
  });

  it('treats blank text and an empty selection as unanswered', () => {
    expect(missingRequired(template, { schulden: false, eenzaam: 4, toelichting: '   ' })).toEqual([
      'toelichting',
    ]);
    expect(missingRequired(template, { schulden: null })).toEqual(['schulden']);
  });

  it('agrees with the sample template in the repository', () => {
    const t = basis as unknown as ChecklistTemplate;
    const missing = missingRequired(t, {});
    expect(missing).toContain('geld.post_ongeopend');
    expect(missing).not.toContain('kinderen.aantal');
    expect(missingRequired(t, { 'kinderen.aanwezig': true })).toContain('kinderen.aantal');
  });
});

describe('suggested signals', () => {
  it('suggests a signal for shown items whose rule matches', () => {
    expect(suggestedSignals(template, { schulden: true, eenzaam: 4, hulp: ['geen'] })).toEqual([
      { item: 'schulden', category: 'debts', severity: 'medium' },
      { item: 'hulp', category: 'health', severity: 'low' },
      { item: 'eenzaam', category: 'isolation', severity: 'medium' },
    ]);
    expect(suggestedSignals(template, { schulden: false, eenzaam: 2 })).toEqual([]);
  });
});

describe('numbers as people type them (parse_dutch_number)', () => {
  it.each([
    ['2500', 2500],
    ['2.500', 2500],
    ['1.250,50', 1250.5],
    ['12,5', 12.5],
    ['12.5', 12.5],
    ['-3', -3],
    [' 7 ', 7],
    ['1.000.000', 1000000],
  ])('%s → %d', (input, expected) => {
    expect(parseDutchNumber(input)).toBe(expected);
  });

  it.each(['veel', '', '12,5,3', '1e', 'NaN', 'Infinity'])('rejects %s', (input) => {
    expect(parseDutchNumber(input)).toBeNull();
  });

  it('checks the item range', () => {
    expect(readNumber('', 0, 10)).toEqual({ value: null });
    expect(readNumber('12,5', 0, 10)).toEqual({ value: 12.5, problem: 'too_large' });
    expect(readNumber('-1', 0)).toEqual({ value: -1, problem: 'too_small' });
    expect(readNumber('abc')).toEqual({ value: null, problem: 'not_a_number' });
    expect(readNumber('3', 0, 10)).toEqual({ value: 3 });
  });
});

describe('multiple choice', () => {
  const options = [{ value: 'a' }, { value: 'b' }, { value: 'c' }];
  it('keeps the template order without duplicates', () => {
    expect(canonicalChoices(options, ['c', 'a', 'c'])).toEqual(['a', 'c']);
    expect(toggleChoice(options, ['c'], 'a')).toEqual(['a', 'c']);
    expect(toggleChoice(options, ['a', 'c'], 'a')).toEqual(['c']);
  });
});

describe('sections', () => {
  it('knows the section of every item', () => {
    const of = sectionOfItem(template);
    expect(of.get('schulden')).toBe('geld');
    expect(of.get('datum')).toBe('rest');
    expect(of.size).toBe(8);
  });

  it('counts items (open required ones) per section, in template order', () => {
    const missing = missingRequired(template, { schulden: true, eenzaam: 5 });
    expect(missing).toEqual(['bedrag', 'toelichting']);
    expect([...countBySection(template, missing)]).toEqual([
      ['geld', 1],
      ['rest', 1],
    ]);
    expect([...countBySection(template, [])]).toEqual([
      ['geld', 0],
      ['rest', 0],
    ]);
  });

  it('finds the first section with an open item, also when the list is out of order', () => {
    expect(firstSectionWith(template, ['toelichting', 'bedrag'])).toBe('geld');
    expect(firstSectionWith(template, new Set(['toelichting']))).toBe('rest');
    expect(firstSectionWith(template, [])).toBeNull();
    expect(firstSectionWith(template, ['no.such.item'])).toBeNull();
  });

  it('reports per section how many shown items are answered', () => {
    const answers = { schulden: true, bedrag: 500, woon: 'huur', hulp: [] };
    const progress = sectionProgress(template, visibleItemIds(template, answers), answers);
    // geld: schulden and bedrag shown (deurwaarder needs at least 1000), both answered.
    expect(progress.get('geld')).toEqual({ shown: 2, answered: 2 });
    // rest: toelichting hidden; an empty selection is not an answer.
    expect(progress.get('rest')).toEqual({ shown: 4, answered: 1 });
  });

  it('places every required item of the sample template in its own section', () => {
    const t = basis as unknown as ChecklistTemplate;
    const of = sectionOfItem(t);
    const missing = missingRequired(t, {});
    expect(missing.map((i) => of.get(i))).toEqual([
      'geld',
      'geld',
      'wonen',
      'sociaal',
      'gezondheid',
      'kinderen',
      'veiligheid',
      'afsluiting',
      'afsluiting',
      'afsluiting',
    ]);
    expect(firstSectionWith(t, missing.slice(2))).toBe('wonen');
  });
});
