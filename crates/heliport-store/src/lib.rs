//! heliport's stores.
//!
//! Everything reads and writes through three traits, so the gateway, the
//! REST API and the dashboard never know which database they have:
//!
//! - [`MetaStore`]: organizations, API keys and prompt versions (small
//!   tables, read on start and on key-cache misses);
//! - [`RecordStore`]: the request records (Helicone's request query, count,
//!   get, export) and the annotations a client adds to one (feedback,
//!   scores, properties);
//! - [`AnalyticsStore`]: aggregates (metrics, users, sessions, properties,
//!   prompt usage) read from rollups the writer keeps, never by scanning
//!   every record.
//!
//! Records are written by the batching [`writer`] through a
//! [`writer::RecordSink`]. SQL is built once, dialect-free, in [`sql`];
//! [`sqlite`] is the first implementation (embedded, WAL, one writer, reads
//! on a pool of their own with a statement timeout). No driver type appears
//! in a public signature outside [`sqlite`].

#![warn(missing_docs)]

pub mod auth;
pub mod budget;
pub mod error;
mod key_digests;
pub mod keys;
pub mod model;
pub mod rollup;
mod spill;
pub mod spool;
pub mod sql;
pub mod sqlite;
pub mod writer;

use std::future::Future;
use std::pin::Pin;

use heliport_core::analytics::{MetricsQuery, PromptQuery, PropertyQuery, SessionQuery, UserQuery};
use heliport_core::filter::{FilterNode, RequestQuery};
use serde_json::Value;

pub use error::{StoreError, StoreResult};
pub use sqlite::{SqliteOptions, SqliteStore};

use keys::{KeyInfo, Organization, Permissions};
use model::{
    ExportCursor, ExportOrder, ExportPage, Metrics, PromptSummary, PromptVersion,
    PromptVersionStats, PropertyStats, ScoreValue, SessionSummary, SessionTree, UserStats,
};

/// A boxed future, so the store traits can be used as `dyn` objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Organizations, API keys and prompt versions.
pub trait MetaStore: Send + Sync + 'static {
    /// Whether the store answers (for `/readyz`); never waits behind reads.
    fn ping(&self) -> BoxFuture<'_, StoreResult<()>>;
    /// The default organization, created on first start.
    fn ensure_default_org(&self) -> BoxFuture<'_, StoreResult<Organization>>;
    /// A new organization.
    fn create_org<'a>(&'a self, name: &'a str) -> BoxFuture<'a, StoreResult<Organization>>;
    /// Every organization, oldest first.
    fn list_orgs(&self) -> BoxFuture<'_, StoreResult<Vec<Organization>>>;
    /// An organization by name or id.
    fn find_org<'a>(&'a self, name_or_id: &'a str) -> BoxFuture<'a, StoreResult<Organization>>;
    /// A new key; returns its info and the key itself, which is never stored.
    fn create_key<'a>(
        &'a self,
        org_id: &'a str,
        name: &'a str,
        permissions: Permissions,
    ) -> BoxFuture<'a, StoreResult<(KeyInfo, String)>>;
    /// A key made elsewhere (Helicone), imported by its SHA-256 hash.
    fn import_key<'a>(
        &'a self,
        org_id: &'a str,
        name: &'a str,
        hash: &'a str,
        permissions: Permissions,
    ) -> BoxFuture<'a, StoreResult<KeyInfo>>;
    /// Every key, revoked ones included, newest first.
    fn list_keys(&self) -> BoxFuture<'_, StoreResult<Vec<KeyInfo>>>;
    /// Keys that authenticate requests (not revoked).
    fn active_keys(&self) -> BoxFuture<'_, StoreResult<Vec<KeyInfo>>>;
    /// The active key with one of these hashes, if any.
    fn active_key_by_hash<'a>(
        &'a self,
        hashes: &'a [String],
    ) -> BoxFuture<'a, StoreResult<Option<KeyInfo>>>;
    /// Revokes the one active key with this id, name or shown prefix.
    fn revoke_key<'a>(&'a self, which: &'a str) -> BoxFuture<'a, StoreResult<KeyInfo>>;
    /// Prompt ids of an organization with their versions, most recently
    /// versioned first.
    fn prompts<'a>(
        &'a self,
        org_id: &'a str,
        q: &'a PromptQuery,
    ) -> BoxFuture<'a, StoreResult<Vec<PromptSummary>>>;
    /// A prompt's versions with their templates (one when `version` is
    /// given); empty when the prompt (or version) is unknown.
    fn prompt_versions<'a>(
        &'a self,
        org_id: &'a str,
        prompt_id: &'a str,
        version: Option<i64>,
    ) -> BoxFuture<'a, StoreResult<Vec<PromptVersion>>>;
}

/// Request records: queries over them and annotations on one of them.
/// Request ids may repeat; an id names the newest record with it.
pub trait RecordStore: Send + Sync + 'static {
    /// One page of requests matching `q`, in Helicone's row shape.
    fn query_requests<'a>(
        &'a self,
        org_id: &'a str,
        q: &'a RequestQuery,
    ) -> BoxFuture<'a, StoreResult<Vec<Value>>>;
    /// How many requests match `filter`.
    fn count_requests<'a>(
        &'a self,
        org_id: &'a str,
        filter: &'a FilterNode,
    ) -> BoxFuture<'a, StoreResult<u64>>;
    /// The newest record with this request id, if any (a streamed answer's
    /// events as stored when `raw_bodies`, else consolidated).
    fn get_request<'a>(
        &'a self,
        org_id: &'a str,
        request_id: &'a str,
        raw_bodies: bool,
    ) -> BoxFuture<'a, StoreResult<Option<Value>>>;
    /// One page of an export of every request matching `filter`, walked by
    /// creation time from `after`.
    fn export_page<'a>(
        &'a self,
        org_id: &'a str,
        filter: &'a FilterNode,
        order: ExportOrder,
        after: Option<ExportCursor>,
        page_size: u32,
        raw_bodies: bool,
    ) -> BoxFuture<'a, StoreResult<ExportPage>>;
    /// Sets the request's feedback; false when there is no such request.
    fn set_feedback<'a>(
        &'a self,
        org_id: &'a str,
        request_id: &'a str,
        rating: bool,
    ) -> BoxFuture<'a, StoreResult<bool>>;
    /// Adds (or replaces) named scores; false when there is no such request.
    fn add_scores<'a>(
        &'a self,
        org_id: &'a str,
        request_id: &'a str,
        scores: &'a [(String, ScoreValue)],
    ) -> BoxFuture<'a, StoreResult<bool>>;
    /// Sets a custom property (name lowercase), keeping the property
    /// rollups right; false when there is no such request.
    fn set_property<'a>(
        &'a self,
        org_id: &'a str,
        request_id: &'a str,
        key: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>>;
}

/// Aggregates, from the rollups the writer keeps.
pub trait AnalyticsStore: Send + Sync + 'static {
    /// Overview numbers for a range, optionally a time series and a breakdown.
    fn metrics<'a>(
        &'a self,
        org_id: &'a str,
        q: &'a MetricsQuery,
    ) -> BoxFuture<'a, StoreResult<Metrics>>;
    /// Per end user: requests, tokens, cost, first and last activity.
    fn users<'a>(
        &'a self,
        org_id: &'a str,
        q: &'a UserQuery,
    ) -> BoxFuture<'a, StoreResult<Vec<UserStats>>>;
    /// Sessions with their totals and users.
    fn sessions<'a>(
        &'a self,
        org_id: &'a str,
        q: &'a SessionQuery,
    ) -> BoxFuture<'a, StoreResult<Vec<SessionSummary>>>;
    /// One session's requests as a tree by path; None for an unknown session.
    fn session_tree<'a>(
        &'a self,
        org_id: &'a str,
        session_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<SessionTree>>>;
    /// Property names with the totals of the requests carrying them.
    fn property_names<'a>(
        &'a self,
        org_id: &'a str,
        q: &'a PropertyQuery,
    ) -> BoxFuture<'a, StoreResult<Vec<PropertyStats>>>;
    /// One property's values with their totals.
    fn property_values<'a>(
        &'a self,
        org_id: &'a str,
        property: &'a str,
        q: &'a PropertyQuery,
    ) -> BoxFuture<'a, StoreResult<Vec<PropertyStats>>>;
    /// Requests made with each version of a prompt.
    fn prompt_stats<'a>(
        &'a self,
        org_id: &'a str,
        prompt_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Vec<PromptVersionStats>>>;
}

/// Microseconds since the Unix epoch, the stores' time unit.
pub fn to_micros(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_micros()
}

/// The time `us` microseconds after the Unix epoch (the epoch itself when
/// out of range).
pub fn from_micros(us: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::<chrono::Utc>::from_timestamp_micros(us).unwrap_or_default()
}
