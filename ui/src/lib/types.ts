// Types the Rust side sends over `invoke`. They mirror the serde output of the Rust
// types named in each comment; keep them in step (generated bindings will replace
// this file once the UI grows).

/** A UUIDv7 as text. */
export type Id = string;

/** `voordeur_core::HouseholdSummary`: a household in a list. */
export interface HouseholdSummary {
  id: Id;
  address: string;
  postcode: string;
  city: string | null;
  residents: string[];
}
