// Types the Rust side sends over `invoke` and events, generated from the Rust types
// with ts-rs into ./bindings (do not edit those; regenerate with
// `cargo test -p voordeur-app export_bindings -- --ignored`, and
// `cargo test -p voordeur-app bindings` fails when they drift).

export type * from './bindings';

import type { VisitView } from './bindings';

/** A UUIDv7 as text (every `…Id` type of the bindings is one). */
export type Id = string;

/** The result of `openVisit` (another name for `VisitView`). */
export type OpenedVisit = VisitView;
