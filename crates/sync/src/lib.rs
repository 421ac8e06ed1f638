//! Client sync engine (issue 3).
