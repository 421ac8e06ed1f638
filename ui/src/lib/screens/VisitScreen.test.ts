// @vitest-environment jsdom
import { fireEvent, render, screen, waitFor, within } from '@testing-library/svelte';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { setLocale } from '../settings.svelte';
import { template } from '../testdata';
import type { VisitView } from '../types';

const api = vi.hoisted(() => ({
  answer: vi.fn(async (_visit: string, _item: string, value: unknown) => value),
  completeVisit: vi.fn(async () => {}),
  openVisit: vi.fn(),
  householdDetail: vi.fn(async () => ({ open_signals: [] })),
}));

vi.mock('../api', async (original) => ({
  ...(await original<typeof import('../api')>()),
  answer: api.answer,
  completeVisit: api.completeVisit,
  openVisit: api.openVisit,
  householdDetail: api.householdDetail,
  // The panels below the checklist ask for nothing in these tests.
  listTemplates: vi.fn(async () => []),
}));

// jsdom lays nothing out.
Element.prototype.scrollIntoView = () => {};

const { default: VisitScreen } = await import('./VisitScreen.svelte');

function view(answers: Record<string, unknown> = {}): VisitView {
  return {
    detail: {
      visit: {
        id: 'v1',
        household_id: 'h1',
        template_id: template.id,
        template_version: 1,
        author_id: null,
        started_at: null,
        ended_at: null,
        status: 'draft',
      },
      answers: Object.entries(answers).map(([item, value]) => ({ item, value })) as never,
      notes: [],
    },
    template,
    household: {
      id: 'h1',
      address: 'Lindenlaan 12',
      postcode: '9712AB',
      city: 'Groningen',
      neighbourhood: null,
      team_id: null,
    },
  };
}

const items = () => [...document.querySelectorAll<HTMLElement>('[data-item]')].map((e) => e.dataset.item);
const sectionButton = (id: string) => document.querySelector<HTMLButtonElement>(`[data-section="${id}"]`)!;

describe('VisitScreen: one section at a time', () => {
  beforeEach(() => {
    setLocale('nl');
    vi.clearAllMocks();
  });

  it('shows the first section with a labelled navigator of every section', async () => {
    api.openVisit.mockResolvedValue(view({ schulden: true }));
    render(VisitScreen, { id: 'v1' });
    await screen.findByRole('heading', { name: 'Geld' });
    expect(items()).toEqual(['schulden', 'bedrag']);
    const nav = screen.getByRole('navigation', { name: 'Onderdelen' });
    const buttons = within(nav).getAllByRole('button');
    expect(buttons.map((b) => b.dataset.section)).toEqual(['geld', 'rest']);
    expect(sectionButton('geld').getAttribute('aria-current')).toBe('step');
    expect(sectionButton('geld').textContent).toContain('1 van 2 beantwoord');
    expect(screen.getByText('Onderdeel 1 van 2')).toBeTruthy();
    expect(screen.queryByRole('button', { name: /Vorig onderdeel/ })).toBeNull();
  });

  it('goes to another section from the navigator and with next/previous', async () => {
    api.openVisit.mockResolvedValue(view());
    render(VisitScreen, { id: 'v1' });
    await screen.findByRole('heading', { name: 'Geld' });
    await fireEvent.click(sectionButton('rest'));
    expect(items()).toEqual(['woon', 'hulp', 'eenzaam', 'datum']);
    expect(sectionButton('rest').getAttribute('aria-current')).toBe('step');
    expect(sectionButton('geld').getAttribute('aria-current')).toBeNull();
    await fireEvent.click(screen.getByRole('button', { name: /Vorig onderdeel: Geld/ }));
    expect(items()).toEqual(['schulden']);
    await fireEvent.click(screen.getByRole('button', { name: /Volgend onderdeel: Rest/ }));
    expect(items()).toEqual(['woon', 'hulp', 'eenzaam', 'datum']);
    // The new section's heading takes the focus, as a new page would.
    await waitFor(() => expect(document.activeElement?.textContent).toBe('Rest'));
  });

  it('on completing with open required items: marks them, marks their sections, shows the first', async () => {
    api.openVisit.mockResolvedValue(view({ schulden: true, eenzaam: 5 }));
    render(VisitScreen, { id: 'v1' });
    await screen.findByRole('heading', { name: 'Geld' });
    await fireEvent.click(sectionButton('rest'));
    await fireEvent.click(screen.getByRole('button', { name: 'Huisbezoek afronden' }));
    // Back to the first section with an open item, the item marked inline.
    await waitFor(() => expect(items()).toEqual(['schulden', 'bedrag']));
    const bedrag = document.querySelector<HTMLElement>('[data-item="bedrag"]')!;
    expect(bedrag.textContent).toContain('Deze vraag is verplicht');
    expect(sectionButton('geld').dataset.missing).toBe('1');
    expect(sectionButton('rest').dataset.missing).toBe('1');
    expect(sectionButton('rest').textContent).toContain('1 verplichte vraag open');
    expect(screen.getByRole('alert').textContent).toMatch(/Nog 2 verplichte vragen open, in: Geld, Rest/);
    expect(api.completeVisit).not.toHaveBeenCalled();

    // The other section shows its open item marked too.
    await fireEvent.click(sectionButton('rest'));
    const toelichting = document.querySelector<HTMLElement>('[data-item="toelichting"]')!;
    expect(toelichting.textContent).toContain('Deze vraag is verplicht');

    // Answering clears the section's mark.
    await fireEvent.input(within(toelichting).getByRole('textbox'), { target: { value: 'Alleen' } });
    await waitFor(() => expect(sectionButton('rest').dataset.missing).toBeUndefined());
    expect(sectionButton('geld').dataset.missing).toBe('1');
  });
});
