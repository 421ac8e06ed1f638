// What the header says about sync: a message key with its values and a tone, from the
// shell's SyncState. Pure, so that each state's wording is tested without a screen.

import type { SyncState } from './types';

export type Tone = 'neutral' | 'busy' | 'ok' | 'warning' | 'error';

export interface StatusText {
  key: string;
  vars: Record<string, string | number>;
  /** A counted message: `key` has `.one`/`.other` forms chosen by `count`. */
  count?: number;
  tone: Tone;
  /** A second line: the reason of an error, or the changes still waiting. */
  detail?: { key: string; vars: Record<string, string | number>; count?: number };
}

/** Error codes of a failed sync that the interface explains in its own words. */
export const KNOWN_SYNC_ERRORS = [
  'offline',
  'unauthorized',
  'device_revoked',
  'update_required',
  'server',
  'timeout',
  'refused',
] as const;

/**
 * @param formatTime turns `last_sync` (RFC 3339) into the locale's time, e.g. "14:05".
 */
export function syncStatusText(s: SyncState, formatTime: (iso: string) => string): StatusText {
  const waiting = Math.max(0, s.waiting ?? 0);
  const waitingDetail =
    waiting > 0 ? { key: 'sync.waiting', vars: { count: waiting }, count: waiting } : undefined;
  switch (s.state) {
    case 'not_enrolled':
      return { key: 'sync.notEnrolled', vars: {}, tone: 'neutral' };
    case 'offline':
      return { key: 'sync.offline', vars: {}, tone: 'warning', detail: waitingDetail };
    case 'syncing': {
      const p = s.progress;
      if (!p) return { key: 'sync.syncing', vars: {}, tone: 'busy' };
      const phase = p.phase === 'push' ? 'sync.sending' : 'sync.receiving';
      if (p.total !== null && p.total !== undefined && p.total > 0) {
        return {
          key: `${phase}.total`,
          vars: { done: p.done, total: p.total },
          tone: 'busy',
        };
      }
      return { key: `${phase}.done`, vars: { done: p.done }, tone: 'busy' };
    }
    case 'up_to_date':
      return s.last_sync
        ? { key: 'sync.upToDateAt', vars: { time: formatTime(s.last_sync) }, tone: 'ok' }
        : { key: 'sync.upToDate', vars: {}, tone: 'ok' };
    case 'waiting':
      return { key: 'sync.waiting', vars: { count: waiting }, count: waiting, tone: 'warning' };
    case 'error': {
      const code = s.error?.code ?? '';
      const known = (KNOWN_SYNC_ERRORS as readonly string[]).includes(code);
      return {
        key: 'sync.error',
        vars: {},
        tone: 'error',
        detail: known
          ? { key: `sync.reason.${code}`, vars: {} }
          : { key: 'sync.reason.other', vars: { message: s.error?.message ?? code } },
      };
    }
  }
  return { key: 'sync.unknown', vars: {}, tone: 'neutral' };
}
