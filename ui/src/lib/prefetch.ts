// Start a screen's first command before the screen exists. The shell knows what the next
// screen will ask for as soon as the route changes (or the app starts), while tearing
// down the old screen and mounting the new one still takes the web view tens of
// milliseconds; the command runs in Rust meanwhile. The screen then takes the answer
// that is already on its way instead of asking again.
//
// An early answer is only used while it is fresh, and only once: every later load of
// the screen asks anew.

import { listHouseholds, openVisit } from './api';
import type { Route } from './router';

/** How long an early answer may wait for its screen. */
export const FRESH_MS = 2_000;

interface Early {
  at: number;
  promise: Promise<unknown>;
}

const early = new Map<string, Early>();

/** Start `run` now for the screen that will ask for `key`. */
export function prefetch<T>(key: string, run: () => Promise<T>, now = Date.now()): void {
  const promise = run();
  // Nobody may be listening yet: a failure is reported to whoever takes it.
  promise.catch(() => {});
  early.set(key, { at: now, promise });
}

/** The answer started early for `key` if it is fresh, else `run()`; either way once. */
export function take<T>(key: string, run: () => Promise<T>, now = Date.now()): Promise<T> {
  const e = early.get(key);
  early.delete(key);
  if (e && now - e.at <= FRESH_MS) return e.promise as Promise<T>;
  return run();
}

/** Forget every early answer (tests). */
export function clearPrefetched(): void {
  early.clear();
}

/** A named moment in the page's performance timeline (read by the app benchmark). */
export function mark(name: string): void {
  try {
    performance.mark(`voordeur:${name}`);
  } catch {
    // No timeline: nothing to record.
  }
}

/** The key of the household list's first load for `query`. */
export const householdsKey = (query: string): string => `households:${query}`;
/** The key of a visit screen's first load. */
export const visitKey = (id: string): string => `visit:${id}`;

/** Start what the screen of `route` will load first (the list, or a visit). */
export function prefetchRoute(route: Route): void {
  if (route.name === 'households') prefetch(householdsKey(''), () => listHouseholds(''));
  else if (route.name === 'visit') {
    const id = route.id;
    prefetch(visitKey(id), () => openVisit(id));
  }
}
