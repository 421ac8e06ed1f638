// @vitest-environment jsdom
import { fireEvent, render, screen, within } from '@testing-library/svelte';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { setLocale } from '../settings.svelte';
import { items } from '../testdata';
import ItemField from './ItemField.svelte';

function field(item: (typeof items)[keyof typeof items], value: unknown = null, extra = {}) {
  const onanswer = vi.fn();
  const result = render(ItemField, { item, value, onanswer, ...extra });
  const root = result.container.querySelector<HTMLElement>(`[data-item="${item.id}"]`)!;
  return { onanswer, root, ...result };
}

describe('ItemField', () => {
  beforeEach(() => setLocale('nl'));
  afterEach(() => vi.useRealTimers());

  it('yes/no: two large toggle buttons in a labelled group, required marked for everyone', async () => {
    const { onanswer, root } = field(items.schulden, true);
    const group = within(root).getByRole('group', { name: /Zijn er schulden\?.*verplicht/ });
    expect(root.querySelector('.required')?.textContent).toBe('*');
    const yes = within(group).getByRole('button', { name: 'Ja' });
    const no = within(group).getByRole('button', { name: 'Nee' });
    expect(yes.getAttribute('aria-pressed')).toBe('true');
    expect(no.getAttribute('aria-pressed')).toBe('false');
    await fireEvent.click(no);
    expect(onanswer).toHaveBeenCalledWith(false, 0);
    await fireEvent.click(yes);
    expect(onanswer).toHaveBeenLastCalledWith(null, 0);
  });

  it('single choice: a radio group with the options in the language', async () => {
    setLocale('en');
    const { onanswer, root } = field(items.woon, 'koop');
    within(root).getByRole('group', { name: 'Housing' });
    const radios = within(root).getAllByRole('radio');
    expect(radios).toHaveLength(2);
    expect((within(root).getByRole('radio', { name: 'Owned' }) as HTMLInputElement).checked).toBe(true);
    await fireEvent.click(within(root).getByRole('radio', { name: 'Rent' }));
    expect(onanswer).toHaveBeenCalledWith('huur', 0);
  });

  it('multiple choice: checkboxes, answers in the template order', async () => {
    const { onanswer, root } = field(items.hulp, ['geen']);
    within(root).getByRole('group', { name: 'Welke hulp?' });
    expect(within(root).getAllByRole('checkbox')).toHaveLength(3);
    await fireEvent.click(within(root).getByRole('checkbox', { name: 'Thuiszorg' }));
    expect(onanswer).toHaveBeenCalledWith(['a', 'geen'], 0);
  });

  it('scale: a row of buttons from min to max with end labels', async () => {
    const { onanswer, root } = field(items.eenzaam, 2);
    const buttons = within(root).getAllByRole('button');
    expect(buttons.map((b) => b.textContent?.trim())).toEqual(['1', '2', '3', '4', '5']);
    expect(buttons[0]!.getAttribute('aria-label')).toBe('1 – Niet');
    expect(buttons[4]!.getAttribute('aria-label')).toBe('5 – Heel erg');
    expect(buttons[1]!.getAttribute('aria-pressed')).toBe('true');
    expect(root.textContent).toContain('Heel erg');
    await fireEvent.click(buttons[3]!);
    expect(onanswer).toHaveBeenCalledWith(4, 0);
  });

  it('number: a labelled text field that reads a Dutch comma and debounces', async () => {
    const { onanswer, root } = field(items.bedrag, 12.5);
    const input = within(root).getByLabelText(/Geschatte schuld/) as HTMLInputElement;
    expect(input.value).toBe('12,5');
    expect(input.getAttribute('inputmode')).toBe('decimal');
    expect(input.getAttribute('aria-describedby')).toBeTruthy();
    expect(root.textContent).toContain('Een schatting is genoeg.');
    await fireEvent.input(input, { target: { value: '1.250,50' } });
    expect(onanswer).toHaveBeenLastCalledWith(1250.5, 400);
  });

  it('number: explains a wrong number inline and does not save it', async () => {
    const { onanswer, root } = field(items.bedrag, null);
    const input = within(root).getByLabelText(/Geschatte schuld/);
    await fireEvent.input(input, { target: { value: 'veel' } });
    expect(onanswer).not.toHaveBeenCalled();
    expect(input.getAttribute('aria-invalid')).toBe('true');
    expect(root.textContent).toContain('Vul een getal in');
    await fireEvent.input(input, { target: { value: '-5' } });
    expect(root.textContent).toContain('niet kleiner zijn dan 0');
  });

  it('text: a text area that saves after a pause and on leaving it', async () => {
    const onflush = vi.fn();
    const { onanswer, root } = field(items.toelichting, 'eerder', { onflush });
    const area = within(root).getByRole('textbox', { name: /Toelichting/ }) as HTMLTextAreaElement;
    expect(area.tagName).toBe('TEXTAREA');
    expect(area.value).toBe('eerder');
    expect(area.getAttribute('aria-required')).toBe('true');
    await fireEvent.input(area, { target: { value: 'nieuw' } });
    expect(onanswer).toHaveBeenLastCalledWith('nieuw', 400);
    await fireEvent.input(area, { target: { value: '  ' } });
    expect(onanswer).toHaveBeenLastCalledWith(null, 400);
    await fireEvent.blur(area);
    expect(onflush).toHaveBeenCalled();
  });

  it('date: a date input', async () => {
    const { onanswer, root } = field(items.datum, '2026-11-27');
    const input = within(root).getByLabelText('Datum') as HTMLInputElement;
    expect(input.type).toBe('date');
    expect(input.value).toBe('2026-11-27');
    await fireEvent.change(input, { target: { value: '2026-12-01' } });
    expect(onanswer).toHaveBeenCalledWith('2026-12-01', 0);
  });

  it('shows the missing-answer message inline, linked to the control', () => {
    const { root } = field(items.toelichting, null, { missing: true });
    const area = within(root).getByRole('textbox');
    expect(area.getAttribute('aria-invalid')).toBe('true');
    const described = area.getAttribute('aria-describedby')!;
    expect(document.getElementById(described)?.textContent).toContain('Deze vraag is verplicht');
  });

  it('offers to raise a suggested signal, then says it was raised', async () => {
    const onraise = vi.fn();
    const { root, rerender } = field(items.schulden, true, {
      suggestion: { category: 'debts', raised: false },
      onraise,
    });
    await fireEvent.click(within(root).getByRole('button', { name: 'Signaal melden: Schulden?' }));
    expect(onraise).toHaveBeenCalled();
    await rerender({ suggestion: { category: 'debts', raised: true } });
    expect(screen.getByText(/Signaal gemeld: Schulden/)).toBeTruthy();
  });

  it('is read-only when disabled', () => {
    const { root } = field(items.schulden, true, { disabled: true });
    for (const b of within(root).getAllByRole('button')) expect((b as HTMLButtonElement).matches(':disabled')).toBe(true);
  });
});
