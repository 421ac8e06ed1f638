import { describe, expect, it } from 'vitest';
import { isAppError, toAppError } from './api';
import { formatNames, formatPlace } from './format';

describe('formatPlace', () => {
  it('puts the postcode before the city', () => {
    expect(formatPlace({ postcode: '1234 AB', city: 'Utrecht' })).toBe('1234 AB Utrecht');
  });

  it('shows only the postcode when the city is unknown or blank', () => {
    expect(formatPlace({ postcode: '1234 AB', city: null })).toBe('1234 AB');
    expect(formatPlace({ postcode: '1234 AB', city: '  ' })).toBe('1234 AB');
  });
});

describe('formatNames', () => {
  it('joins names the way each language does', () => {
    expect(formatNames(['Anna', 'Bram', 'Cor'], 'nl')).toBe('Anna, Bram en Cor');
    expect(formatNames(['Anna', 'Bram'], 'en')).toBe('Anna and Bram');
  });

  it('drops blank names', () => {
    expect(formatNames([' Anna ', ''], 'nl')).toBe('Anna');
    expect(formatNames([], 'nl')).toBe('');
  });
});

describe('toAppError', () => {
  it('keeps a typed error from a command', () => {
    const e = { kind: 'store_locked', message: 'wrong key' };
    expect(isAppError(e)).toBe(true);
    expect(toAppError(e)).toEqual(e);
  });

  it('turns anything else into an internal error with words', () => {
    expect(toAppError('IPC failed')).toEqual({ kind: 'internal', message: 'IPC failed' });
    expect(toAppError(new Error('boom'))).toEqual({ kind: 'internal', message: 'boom' });
    expect(toAppError({ kind: 'nonsense', message: 'x' }).kind).toBe('internal');
  });
});
