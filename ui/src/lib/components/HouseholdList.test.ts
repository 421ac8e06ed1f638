// @vitest-environment jsdom
import { fireEvent, render, screen } from '@testing-library/svelte';
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

  it('draws a page of cards and more on request, the count always of the whole list', async () => {
    render(HouseholdList, { households: households(500), query: '' });
    expect(screen.getByRole('status').textContent).toBe('500 huishoudens');
    expect(cards()).toBe(60);
    expect(screen.getByText('60 van de 500 getoond')).toBeTruthy();
    await fireEvent.click(screen.getByRole('button', { name: 'Toon 60 meer' }));
    expect(cards()).toBe(120);
    expect(document.querySelectorAll('li.card a')[119]?.textContent).toBe('Lindenlaan 120');
  });

  it('shows the last, shorter page and then no button', async () => {
    render(HouseholdList, { households: households(100), query: '' });
    await fireEvent.click(screen.getByRole('button', { name: 'Toon 40 meer' }));
    expect(cards()).toBe(100);
    expect(screen.queryByRole('button', { name: /meer/ })).toBeNull();
  });

  it('keeps what was shown when the same list reloads, starts again for a new search', async () => {
    const { rerender } = render(HouseholdList, { households: households(300), query: '' });
    await fireEvent.click(screen.getByRole('button', { name: 'Toon 60 meer' }));
    expect(cards()).toBe(120);
    await rerender({ households: households(300), query: '' });
    expect(cards()).toBe(120);
    await rerender({ households: households(200, 'Kerkstraat'), query: 'kerk' });
    expect(cards()).toBe(60);
    expect(document.querySelector('li.card a')?.textContent).toBe('Kerkstraat 1');
  });

  it('counts every household and asks for more when all loaded cards are drawn', async () => {
    let asked = 0;
    const { rerender } = render(HouseholdList, {
      households: households(120),
      total: 4970,
      query: '',
      onloadmore: () => {
        asked += 1;
      },
    });
    expect(screen.getByRole('status').textContent).toBe('4.970 huishoudens');
    expect(screen.getByText('60 van de 4.970 getoond')).toBeTruthy();
    await fireEvent.click(screen.getByRole('button', { name: 'Toon 60 meer' }));
    expect(cards()).toBe(120);
    expect(asked).toBe(0);
    await fireEvent.click(screen.getByRole('button', { name: 'Toon 60 meer' }));
    expect(asked).toBe(1);
    await rerender({ households: households(240), total: 4970, query: '' });
    expect(cards()).toBe(180);
  });

  it('shows a short list whole', () => {
    render(HouseholdList, { households: households(12), query: '' });
    expect(cards()).toBe(12);
  });

  it('opens a household on a tap anywhere on its card', async () => {
    render(HouseholdList, { households: households(3), query: '' });
    const opened: string[] = [];
    document.addEventListener('click', (e) => {
      const a = (e.target as Element).closest('a');
      if (a) {
        opened.push(a.getAttribute('href')!);
        e.preventDefault();
      }
    });
    const place = document.querySelectorAll<HTMLElement>('li.card .place')[1]!;
    await fireEvent.click(place);
    expect(opened).toEqual(['#/household/Lindenlaan-1']);
    // A tap with a modifier (new window…) is left to the web view.
    await fireEvent.click(place, { ctrlKey: true });
    expect(opened).toHaveLength(1);
  });
});
