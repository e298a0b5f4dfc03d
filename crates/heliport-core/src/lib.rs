//! heliport's pure domain: everything the gateway decides without I/O.
//!
//! Parsers, policies and calculators live here so they can be unit-tested
//! exhaustively and shared by the gateway, the stores and the CLI.

#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

pub mod analytics;
pub mod consolidate;
pub mod error;
pub mod estimate;
pub mod extract;
pub mod filter;
pub mod injection;
pub mod json_members;
pub mod namespace;
pub mod options;
pub mod pricing;
pub mod prompt;
pub mod provider;
pub mod record;
pub mod redact;
pub mod sse;
pub mod target;
pub mod traffic;
pub mod usage;
