//! The one error type of the `store` crate.

/// Why a storage operation failed. Callers map these to their own errors; the messages may name
/// database or file details and must not be shown to remote clients as they are.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database URL names no supported backend (`sqlite:` or `postgres:`).
    #[error("unsupported database URL scheme: {0}")]
    UnsupportedUrl(String),
    /// The database failed or refused a query.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The blob store failed.
    #[error("blob store error: {0}")]
    Blob(#[from] object_store::Error),
    /// A blob store location could not be prepared (e.g. the data directory).
    #[error("blob store setup failed: {0}")]
    BlobSetup(String),
    /// A row held a value this version cannot read (e.g. corrupt analysis JSON).
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// The row to change was not in the expected state (a concurrent writer got there first, or the
    /// caller's view is stale).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// A uniqueness constraint was violated (e.g. a tenant name already taken).
    #[error("already exists: {0}")]
    AlreadyExists(&'static str),
    /// This server may not run beside a server already registered on the database (local blobs,
    /// or SQLite, with another live server); the message names the other server and the remedy.
    #[error("refused to start: {0}")]
    ServerRefused(String),
    /// The database cannot do this (e.g. messages between servers on SQLite, which serves one).
    #[error("not supported: {0}")]
    Unsupported(&'static str),
}

impl StoreError {
    /// Wraps a unique-violation database error as [`StoreError::AlreadyExists`].
    pub(crate) fn unique_as(err: sqlx::Error, what: &'static str) -> StoreError {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::AlreadyExists(what)
            }
            _ => StoreError::Database(err),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, StoreError>;
