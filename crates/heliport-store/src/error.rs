//! The one error type of every store.

use heliport_core::filter::FilterError;

/// A store failure, or a caller's mistake the store found.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed (or is unreachable); the operation is named.
    #[error("database error while {context}: {source}")]
    Db {
        /// What was being done.
        context: &'static str,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The caller asked for something invalid (HTTP 400); the message says what.
    #[error("{0}")]
    Invalid(String),
    /// A filter or sort the caller sent is invalid (HTTP 400).
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// What was asked for does not exist (HTTP 404).
    #[error("not found: {0}")]
    NotFound(String),
    /// A read ran longer than the statement timeout and was stopped, or no
    /// read connection became free within it.
    #[error("the query took longer than {0} ms and was stopped; narrow it (a time range, fewer or more selective conditions)")]
    Timeout(u64),
    /// A stored value cannot be represented.
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the caller's request is at fault (HTTP 4xx), not the store.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            StoreError::Invalid(_) | StoreError::Filter(_) | StoreError::NotFound(_)
        )
    }

    /// A database error while `context`.
    pub fn db(
        context: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> StoreError {
        StoreError::Db {
            context,
            source: Box::new(source),
        }
    }
}

/// Results of store operations.
pub type StoreResult<T> = Result<T, StoreError>;
