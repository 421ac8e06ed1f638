// A small checklist for the tests, shaped like templates/huisbezoek-basis.json.

import type { ChecklistTemplate, Item } from './types';

const l = (nl: string, en = nl) => ({ nl, en });

export const items = {
  schulden: {
    id: 'schulden',
    label: l('Zijn er schulden?', 'Are there debts?'),
    kind: { type: 'yes_no' },
    required: true,
    signal: { category: 'debts', severity: 'medium', when: { equals: true } },
  },
  bedrag: {
    id: 'bedrag',
    label: l('Geschatte schuld', 'Estimated debt'),
    help: l('Een schatting is genoeg.', 'An estimate is enough.'),
    kind: { type: 'number', min: 0, max: 100000 },
    required: true,
    show_if: { item: 'schulden', equals: true },
  },
  deurwaarder: {
    id: 'deurwaarder',
    label: l('Deurwaarder?', 'Bailiff?'),
    kind: { type: 'yes_no' },
    show_if: { item: 'bedrag', at_least: 1000 },
  },
  woon: {
    id: 'woon',
    label: l('Woonsituatie', 'Housing'),
    kind: {
      type: 'single_choice',
      options: [
        { value: 'huur', label: l('Huur', 'Rent') },
        { value: 'koop', label: l('Koop', 'Owned') },
      ],
    },
  },
  hulp: {
    id: 'hulp',
    label: l('Welke hulp?', 'Which help?'),
    kind: {
      type: 'multiple_choice',
      options: [
        { value: 'a', label: l('Thuiszorg', 'Home care') },
        { value: 'b', label: l('Schuldhulp', 'Debt help') },
        { value: 'geen', label: l('Geen', 'None') },
      ],
    },
    signal: { category: 'health', severity: 'low', when: { includes: 'geen' } },
  },
  eenzaam: {
    id: 'eenzaam',
    label: l('Hoe eenzaam?', 'How lonely?'),
    kind: { type: 'scale', min: 1, max: 5, min_label: l('Niet', 'Not'), max_label: l('Heel erg', 'Very') },
    signal: { category: 'isolation', severity: 'medium', when: { at_least: 4 } },
  },
  toelichting: {
    id: 'toelichting',
    label: l('Toelichting', 'Explanation'),
    kind: { type: 'text' },
    required: true,
    show_if: { item: 'eenzaam', at_least: 4 },
  },
  datum: { id: 'datum', label: l('Datum', 'Date'), kind: { type: 'date' } },
} satisfies Record<string, Item>;

export const template: ChecklistTemplate = {
  id: '01930000-0000-7000-8000-000000000001',
  name: l('Test', 'Test'),
  version: 1,
  status: 'published',
  sections: [
    { id: 'geld', title: l('Geld'), items: [items.schulden, items.bedrag, items.deurwaarder] },
    {
      id: 'rest',
      title: l('Rest'),
      items: [items.woon, items.hulp, items.eenzaam, items.toelichting, items.datum],
    },
  ],
};
