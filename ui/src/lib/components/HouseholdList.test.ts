// @vitest-environment jsdom
import { render, screen, waitFor } from '@testing-library/svelte';
import { beforeEach, describe, expect, it } from 'vitest';
import { setLocale } from '../settings.svelte';
import type { HouseholdSummary } from '../types';
import HouseholdList from './HouseholdList.svelte';

const households = (n: number, prefix = 'Lindenlaan'): HouseholdSummary[] =>
  Array.from({ length: n }, (_, i) => ({
    id: `${prefix}-${i}`,
    address: `${prefix} ${i + 1}`,
    postcode: '9712AB',
    city: 'Groningen',
    residents: [],
  })) as unknown as HouseholdSummary[];

const cards = () => document.querySelectorAll('li.card').length;

describe('HouseholdList', () => {
  beforeEach(() => setLocale('nl'));

  it('draws the first screenful at once and the rest of a long list right after', async () => {
    render(HouseholdList, { households: households(500), query: '' });
    // The count is the whole list's from the start.
    expect(screen.getByRole('status').textContent).toBe('500 huishoudens');
    expect(cards()).toBe(40);
    await waitFor(() => expect(cards()).toBe(500), { timeout: 10_000 });
    expect(document.querySelectorAll('li.card a')[499]?.textContent).toBe('Lindenlaan 500');
  });

  it('starts again from the first screenful when the list changes', async () => {
    const { rerender } = render(HouseholdList, { households: households(300), query: '' });
    await waitFor(() => expect(cards()).toBe(300), { timeout: 10_000 });
    await rerender({ households: households(200, 'Kerkstraat'), query: 'kerk' });
    expect(cards()).toBe(40);
    expect(document.querySelector('li.card a')?.textContent).toBe('Kerkstraat 1');
    await waitFor(() => expect(cards()).toBe(200), { timeout: 10_000 });
  });

  it('shows a short list whole', () => {
    render(HouseholdList, { households: households(12), query: '' });
    expect(cards()).toBe(12);
  });
});
