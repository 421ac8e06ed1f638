// The checklist's rules on the device, for immediate feedback while a worker answers.
// They mirror `voordeur_core::template` (is_relevant, missing_required,
// suggested_signals, parse_dutch_number, the canonical multiple-choice order); the Rust
// side stays authoritative and re-checks every answer and the completion of a visit.

import type { ChecklistTemplate, Item, Label, Severity, SignalCategory } from './types';

/** Answers of one visit by item id. `null`/absent means unanswered. */
export type Answers = Readonly<Record<string, unknown>>;

type Test =
  | { equals: unknown }
  | { includes: string }
  | { at_least: number }
  | { at_most: number };

/** The label in the interface language (English for `en…`, Dutch otherwise). */
export function label(text: Label, locale: string): string {
  return locale.startsWith('en') ? text.en : text.nl;
}

function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  }
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return (
      ka.length === kb.length &&
      ka.every((k) => sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
    );
  }
  return false;
}

/** `Match::matches`: does one answer pass the test of a condition or signal rule? */
export function matches(test: Test, answer: unknown): boolean {
  if ('equals' in test) {
    const v = test.equals;
    if (typeof v === 'number' && typeof answer === 'number') return v === answer;
    return sameJson(v, answer);
  }
  if ('includes' in test) {
    if (Array.isArray(answer)) return answer.some((a) => a === test.includes);
    return typeof answer === 'string' && answer === test.includes;
  }
  if ('at_least' in test) return typeof answer === 'number' && answer >= test.at_least;
  if ('at_most' in test) return typeof answer === 'number' && answer <= test.at_most;
  return false;
}

function has(answers: Answers, id: string): boolean {
  return Object.prototype.hasOwnProperty.call(answers, id) && answers[id] !== null && answers[id] !== undefined;
}

/** Every item of the template in order, across sections. */
export function allItems(template: ChecklistTemplate): Item[] {
  return template.sections.flatMap((s) => s.items);
}

/**
 * `is_relevant`: is the item shown, given the answers? An item whose condition refers
 * to a hidden item is hidden too (conditions chain backwards).
 */
export function isRelevant(template: ChecklistTemplate, item: Item, answers: Answers): boolean {
  return relevant(itemsById(template), item, answers);
}

const byIdCache = new WeakMap<ChecklistTemplate, Map<string, Item>>();

/** The template's items by id (computed once per template object). */
function itemsById(template: ChecklistTemplate): Map<string, Item> {
  let byId = byIdCache.get(template);
  if (!byId) {
    byId = new Map(allItems(template).map((i) => [i.id, i]));
    byIdCache.set(template, byId);
  }
  return byId;
}

function relevant(byId: Map<string, Item>, item: Item, answers: Answers): boolean {
  let current: Item = item;
  for (let step = 0; step <= byId.size; step++) {
    const cond = current.show_if;
    if (!cond) return true;
    if (!has(answers, cond.item) || !matches(cond as Test, answers[cond.item])) return false;
    const parent = byId.get(cond.item);
    if (!parent) return false;
    current = parent;
  }
  return false;
}

/** The ids of the items shown now. */
export function visibleItemIds(template: ChecklistTemplate, answers: Answers): Set<string> {
  const byId = itemsById(template);
  return new Set(
    allItems(template)
      .filter((i) => relevant(byId, i, answers))
      .map((i) => i.id),
  );
}

/** Is this value an answer (not empty text, not an empty selection)? */
export function isAnswered(value: unknown): boolean {
  if (value === null || value === undefined) return false;
  if (typeof value === 'string') return value.trim() !== '';
  if (Array.isArray(value)) return value.length > 0;
  return true;
}

/** `missing_required`: required items that are shown and unanswered, in template order. */
export function missingRequired(template: ChecklistTemplate, answers: Answers): string[] {
  return allItems(template)
    .filter((i) => i.required && isRelevant(template, i, answers))
    .filter((i) => !isAnswered(answers[i.id]))
    .map((i) => i.id);
}

export interface SuggestedSignal {
  item: string;
  category: SignalCategory;
  severity: Severity;
}

/** `suggested_signals`: shown items whose answer matches their signal rule. */
export function suggestedSignals(template: ChecklistTemplate, answers: Answers): SuggestedSignal[] {
  return allItems(template)
    .filter((i) => i.signal && has(answers, i.id) && isRelevant(template, i, answers))
    .filter((i) => matches(i.signal!.when as Test, answers[i.id]))
    .map((i) => ({ item: i.id, category: i.signal!.category, severity: i.signal!.severity }));
}

/**
 * `parse_dutch_number`: a number as a person in the Netherlands types it — `2500`,
 * `2.500` (thousands), `12,5` or `1.250,50` (decimal comma), or `12.5`. `null` if not one.
 */
export function parseDutchNumber(input: string): number | null {
  const t = input.trim();
  const thousands = (s: string): boolean => {
    const groups = s.replace(/^-+/, '').split('.');
    const first = groups[0] ?? '';
    return (
      first !== '' &&
      first.length <= 3 &&
      groups.length > 1 &&
      groups.slice(1).every((g) => /^[0-9]{3}$/.test(g))
    );
  };
  const dot = t.includes('.');
  const comma = t.includes(',');
  let normalised: string;
  if (dot && comma) normalised = t.replaceAll('.', '').replace(',', '.');
  else if (comma) normalised = t.replace(',', '.');
  else if (dot && thousands(t)) normalised = t.replaceAll('.', '');
  else normalised = t;
  // Rust's f64 parser: optional sign, digits with an optional fraction, optional exponent.
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(normalised)) return null;
  const n = Number(normalised);
  return Number.isFinite(n) ? n : null;
}

export type NumberProblem = 'not_a_number' | 'too_small' | 'too_large';

/** Read a typed number for a number item; `value: null` for an empty field. */
export function readNumber(
  input: string,
  min?: number | null,
  max?: number | null,
): { value: number | null; problem?: NumberProblem } {
  if (input.trim() === '') return { value: null };
  const n = parseDutchNumber(input);
  if (n === null) return { value: null, problem: 'not_a_number' };
  if (min !== null && min !== undefined && n < min) return { value: n, problem: 'too_small' };
  if (max !== null && max !== undefined && n > max) return { value: n, problem: 'too_large' };
  return { value: n };
}

/** A multiple-choice answer in the template's option order, without duplicates. */
export function canonicalChoices(options: readonly { value: string }[], chosen: readonly string[]): string[] {
  const set = new Set(chosen);
  return options.map((o) => o.value).filter((v) => set.has(v));
}

/** Toggle one option of a multiple-choice answer, keeping the canonical order. */
export function toggleChoice(
  options: readonly { value: string }[],
  chosen: readonly string[],
  value: string,
): string[] {
  const next = chosen.includes(value) ? chosen.filter((c) => c !== value) : [...chosen, value];
  return canonicalChoices(options, next);
}

/** The id of the section that holds each item. */
export function sectionOfItem(template: ChecklistTemplate): Map<string, string> {
  return new Map(template.sections.flatMap((s) => s.items.map((i) => [i.id, s.id] as const)));
}

/** Per section of the template (in order): how many of the given items it holds. */
export function countBySection(template: ChecklistTemplate, itemIds: Iterable<string>): Map<string, number> {
  const ids = new Set(itemIds);
  return new Map(template.sections.map((s) => [s.id, s.items.filter((i) => ids.has(i.id)).length]));
}

/** The first section (in template order) holding one of the items, or `null`. */
export function firstSectionWith(template: ChecklistTemplate, itemIds: Iterable<string>): string | null {
  const ids = new Set(itemIds);
  return template.sections.find((s) => s.items.some((i) => ids.has(i.id)))?.id ?? null;
}

export interface SectionProgress {
  /** Items shown now. */
  shown: number;
  /** Of those, answered. */
  answered: number;
}

/** Per section: the items shown now and how many of them have an answer. */
export function sectionProgress(
  template: ChecklistTemplate,
  visible: ReadonlySet<string>,
  answers: Answers,
): Map<string, SectionProgress> {
  return new Map(
    template.sections.map((s) => {
      const shown = s.items.filter((i) => visible.has(i.id));
      return [s.id, { shown: shown.length, answered: shown.filter((i) => isAnswered(answers[i.id])).length }];
    }),
  );
}
