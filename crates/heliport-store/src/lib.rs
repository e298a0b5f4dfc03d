//! heliport's stores: the embedded SQLite store for keys, organizations and
//! request records; the batching writer that records without blocking
//! responses; and the spool that keeps records the store could not take.

pub mod auth;
pub mod budget;
pub mod keys;
pub mod query;
pub mod record_sink;
pub mod spool;
pub mod sqlite;
pub mod writer;

pub use sqlite::{SqliteStore, StoreError};
