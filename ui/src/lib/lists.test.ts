import { describe, expect, it } from 'vitest';
import type { FollowUp } from './types';
import { currentWinner, formatConflictValue, sortFollowUps } from './lists';
import { formatDay, formatNumber, hlcWallMs, shortId } from './format';

const f = (id: string, due: string, overdue = false, status: 'open' | 'done' = 'open'): FollowUp => ({
  id,
  household_id: 'h',
  visit_id: null,
  assignee_id: null,
  due,
  text: id,
  status,
  overdue,
});

describe('sortFollowUps', () => {
  it('puts overdue first, then the earliest due day, done last', () => {
    const sorted = sortFollowUps([
      f('later', '2026-12-20'),
      f('done', '2026-01-01', false, 'done'),
      f('soon', '2026-12-01'),
      f('late', '2026-11-01', true),
    ]);
    expect(sorted.map((x) => x.id)).toEqual(['late', 'soon', 'later', 'done']);
  });
});

describe('conflict values', () => {
  const words = { yes: 'Ja', no: 'Nee', empty: '(leeg)' };
  it('reads like the form did', () => {
    expect(formatConflictValue(true, 'nl', words)).toBe('Ja');
    expect(formatConflictValue(null, 'nl', words)).toBe('(leeg)');
    expect(formatConflictValue(1250.5, 'nl', words)).toBe('1.250,5');
    expect(formatConflictValue(1250.5, 'en', words)).toBe('1,250.5');
    expect(formatConflictValue('2026-11-27', 'nl', words)).toBe('27 november 2026');
    expect(formatConflictValue(['a', 'b'], 'nl', words)).toBe('a, b');
  });

  it('knows which value shows until resolved (highest HLC)', () => {
    const v = (hlc: string) => ({ value: hlc, hlc, device: 'd', author: null, change_id: hlc });
    const a = v('001732730000000-0000000000-x');
    const b = v('001732730000001-0000000000-x');
    expect(currentWinner([a, b])).toBe(b);
  });
});

describe('format', () => {
  it('formats days and numbers in the locale', () => {
    expect(formatDay('2026-03-05', 'en')).toBe('5 March 2026');
    expect(formatDay('not a day', 'nl')).toBe('not a day');
    expect(formatNumber(12.5, 'nl', false)).toBe('12,5');
  });

  it('reads the wall time of an HLC and shortens ids', () => {
    expect(hlcWallMs('001732730000000-0000000003-0193aaaa-bbbb-7ccc-8ddd-eeeeffff0000')).toBe(
      1732730000000,
    );
    expect(hlcWallMs('garbage')).toBeNull();
    expect(shortId('0193aaaa-bbbb-7ccc-8ddd-eeeeffff0000')).toBe('ffff0000');
    expect(shortId(null)).toBe('—');
  });
});
