//! Recording bytes, kept out of the database in an object store (local files or S3-compatible).
//!
//! Every object is written once under a fresh key and never overwritten, so a retried write can
//! never clobber data that an earlier write already committed. This module knows nothing of tenants
//! or permissions: callers pass keys built by [`part_key`]. It must never delete an object that a
//! committed database row may reference (see [`crate::Store::sweep_orphan_blobs`]).
//!
//! # Durability
//!
//! The invariant is: *a database row never references a blob that a crash can lose.* Callers
//! write the blob with [`Blobs::put`] and only then commit the row that references it, and `put`
//! returns only once the blob is durable:
//!
//! - **Local files** are written by this module, not by `object_store`'s `LocalFileSystem`
//!   (which renames a staged file into place without any `fsync`): the bytes go to a staging file
//!   `<key>#<n>` in the final directory, the file is `fsync`ed (data and metadata), renamed onto
//!   its key, and the directory is `fsync`ed so the rename (the directory entry) is durable too;
//!   directories created on the way are `fsync`ed into their parents the same way. A crash at
//!   any point leaves either no object or the whole object, never a torn one under its key.
//! - **S3** acknowledges a `PUT` only once the object is stored durably, so a successful `put`
//!   is enough.
//!
//! The converse — a blob whose row was never committed (a crash between the two steps, or a
//! writer that lost a race) — is harmless but wastes space; the orphan sweep removes such blobs
//! once they are older than a grace period that is far longer than any write-then-commit takes.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt as _;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};

use crate::error::{Result, StoreError};

/// Where blobs live.
#[derive(Debug, Clone)]
pub enum BlobConfig {
    /// A directory on the local file system (created if missing).
    Local {
        /// The root directory.
        root: std::path::PathBuf,
    },
    /// An S3-compatible bucket.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Region (any string for most S3-compatible servers).
        region: String,
        /// Endpoint URL for S3-compatible servers; `None` for AWS.
        endpoint: Option<String>,
        /// Access key id.
        access_key_id: String,
        /// Secret access key.
        secret_access_key: String,
        /// Allow plain HTTP (local test servers).
        allow_http: bool,
    },
}

/// A handle on the blob store.
#[derive(Debug, Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    /// For local files: the same directory (and its root), written by [`write_durably`].
    local: Option<(Arc<LocalFileSystem>, PathBuf)>,
}

/// An object in the store, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// Its key.
    pub key: String,
    /// When it was last written, Unix ms.
    pub modified_ms: i64,
    /// Its size in bytes.
    pub size: u64,
}

impl Blobs {
    /// Opens the configured blob store.
    pub fn open(config: &BlobConfig) -> Result<Blobs> {
        let mut local = None;
        let store: Arc<dyn ObjectStore> = match config {
            BlobConfig::Local { root } => {
                std::fs::create_dir_all(root).map_err(|e| StoreError::BlobSetup(e.to_string()))?;
                let fs = Arc::new(LocalFileSystem::new_with_prefix(root)?);
                local = Some((Arc::clone(&fs), root.clone()));
                fs
            }
            BlobConfig::S3 {
                bucket,
                region,
                endpoint,
                access_key_id,
                secret_access_key,
                allow_http,
            } => {
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_access_key_id(access_key_id)
                    .with_secret_access_key(secret_access_key)
                    .with_allow_http(*allow_http);
                if let Some(endpoint) = endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                Arc::new(builder.build()?)
            }
        };
        Ok(Blobs { store, local })
    }

    /// Writes one object durably: when this returns `Ok`, the object survives a crash of the
    /// process or the machine (see the module documentation).
    pub async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        let location = ObjectPath::from(key);
        match &self.local {
            Some((fs, _)) => {
                let path = fs.path_to_filesystem(&location)?;
                tokio::task::spawn_blocking(move || write_durably(&path, &data))
                    .await
                    .map_err(|e| StoreError::BlobSetup(format!("blob writer task failed: {e}")))?
                    .map_err(|e| StoreError::BlobSetup(format!("writing blob {key}: {e}")))
            }
            None => {
                self.store.put(&location, PutPayload::from(data)).await?;
                Ok(())
            }
        }
    }

    /// Every object whose key starts with `prefix` (a whole path segment, e.g. `tenants`).
    pub async fn list(&self, prefix: &str) -> Result<Vec<BlobInfo>> {
        let prefix = ObjectPath::from(prefix);
        let mut listing = self.store.list(Some(&prefix));
        let mut out = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta?;
            out.push(BlobInfo {
                key: meta.location.to_string(),
                modified_ms: meta.last_modified.timestamp_millis(),
                size: meta.size,
            });
        }
        Ok(out)
    }

    /// For local files: deletes staging files (`<key>#<n>`) that a crash left behind, when last
    /// modified before `cutoff_ms`. Returns how many were deleted (always 0 for S3, which has no
    /// staging files).
    pub async fn remove_stale_staging(&self, cutoff_ms: i64) -> Result<u64> {
        let Some((_, root)) = &self.local else {
            return Ok(0);
        };
        let root = root.clone();
        tokio::task::spawn_blocking(move || remove_stale_staging_under(&root, cutoff_ms))
            .await
            .map_err(|e| StoreError::BlobSetup(format!("staging sweep task failed: {e}")))?
            .map_err(|e| StoreError::BlobSetup(format!("staging sweep: {e}")))
    }

    /// Reads one object whole.
    pub async fn get(&self, key: &str) -> Result<Bytes> {
        Ok(self
            .store
            .get(&ObjectPath::from(key))
            .await?
            .bytes()
            .await?)
    }

    /// Reads bytes `range` of one object; an error when the object is shorter.
    pub async fn get_range(&self, key: &str, range: std::ops::Range<u64>) -> Result<Bytes> {
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        let want = range.end - range.start;
        let bytes = self.store.get_range(&ObjectPath::from(key), range).await?;
        if bytes.len() as u64 != want {
            return Err(StoreError::Corrupt(format!(
                "blob {key} is shorter than a part that references it"
            )));
        }
        Ok(bytes)
    }

    /// Deletes one object (missing objects are not an error).
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Writes `data` to `path` so that, on return, both the bytes and the directory entry are on
/// stable storage: staging file, `fsync`, rename, `fsync` of the directory (and of the parents of
/// any directory created on the way).
fn write_durably(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("blob path has no directory"))?;
    create_dirs_durably(dir)?;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("blob path has no file name"))?;
    let (mut file, staging) = (1u32..)
        .map(|n| {
            let mut staged = name.to_owned();
            staged.push(format!("#{n}"));
            dir.join(staged)
        })
        .find_map(|staging| {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&staging)
            {
                Ok(f) => Some(Ok((f, staging))),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => None,
                Err(e) => Some(Err(e)),
            }
        })
        .ok_or_else(|| std::io::Error::other("no free staging name"))??;
    let written = file
        .write_all(data)
        .and_then(|()| file.sync_all())
        .and_then(|()| {
            drop(file);
            std::fs::rename(&staging, path)
        });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&staging);
        return Err(e);
    }
    sync_dir(dir)
}

/// `create_dir_all`, then `fsync` the parent of every directory it created, deepest first, so the
/// new directory entries are durable before a blob inside them is reported written.
fn create_dirs_durably(dir: &Path) -> std::io::Result<()> {
    let mut missing = Vec::new();
    let mut cursor = Some(dir);
    while let Some(d) = cursor {
        if d.is_dir() {
            break;
        }
        missing.push(d.to_path_buf());
        cursor = d.parent();
    }
    if missing.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    for created in &missing {
        if let Some(parent) = created.parent() {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// `fsync` of a directory (makes renames and new entries in it durable).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// A staging file name: `<name>#<digits>`.
fn is_staging_name(name: &str) -> bool {
    match name.rsplit_once('#') {
        Some((_, suffix)) => !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

fn remove_stale_staging_under(root: &Path, cutoff_ms: i64) -> std::io::Result<u64> {
    let mut removed = 0;
    let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
                continue;
            }
            let name = entry.file_name();
            if !kind.is_file() || !name.to_str().is_some_and(is_staging_name) {
                continue;
            }
            let modified_ms = entry
                .metadata()?
                .modified()?
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .unwrap_or(0);
            if modified_ms < cutoff_ms {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(removed)
}

/// The recording id in a key built by [`part_key`]
/// (`tenants/<tenant>/recordings/<recording>/<stream>/<name>`), or `None` for any other key.
pub fn recording_of_key(key: &str) -> Option<&str> {
    let mut parts = key.split('/');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("tenants"), Some(t), Some("recordings"), Some(r), Some(s), Some(n), None)
            if !t.is_empty() && !r.is_empty() && !s.is_empty() && !n.is_empty() =>
        {
            Some(r)
        }
        _ => None,
    }
}

/// The key of a fresh part object of a recording's signal stream.
pub fn part_key(tenant_id: &str, recording_id: &str, stream: &str, start: u64) -> String {
    format!(
        "tenants/{tenant_id}/recordings/{recording_id}/{stream}/{start:020}-{}",
        uuid::Uuid::new_v4().simple()
    )
}

/// What one orphan sweep did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SweepReport {
    /// Recording part objects looked at.
    pub examined: u64,
    /// Unreferenced objects deleted.
    pub deleted: u64,
    /// Unreferenced objects kept because they are younger than the cutoff.
    pub young: u64,
    /// Stale local staging files deleted.
    pub staging_deleted: u64,
}

impl crate::Store {
    /// Deletes recording part objects that no committed `recording_parts` row references and that
    /// were last written before `cutoff_ms` (Unix ms), plus local staging files older than that.
    ///
    /// Such objects are what a crash (or a lost commit race) between writing a blob and
    /// committing its row leaves behind. Safety: a blob is written before its row is committed,
    /// and the row is committed right after, so a blob older than the cutoff without a row will
    /// never get one, provided the grace period (now minus `cutoff_ms`) is far longer than any
    /// write-then-commit takes; callers use hours. Objects whose key is not a part key
    /// ([`part_key`]) are never touched. Safe to run while the server serves, and on several
    /// servers sharing one database and bucket.
    pub async fn sweep_orphan_blobs(&self, cutoff_ms: i64) -> Result<SweepReport> {
        let mut report = SweepReport::default();
        // Keys of one recording are listed together (one directory / one key prefix), so a
        // one-entry cache of the referenced keys does one query per recording.
        let mut cached: Option<(String, std::collections::HashSet<String>)> = None;
        for blob in self.blobs.list("tenants").await? {
            let Some(recording_id) = recording_of_key(&blob.key) else {
                continue;
            };
            report.examined += 1;
            if cached.as_ref().is_none_or(|(id, _)| id != recording_id) {
                let keys = self.part_keys_of(recording_id).await?;
                cached = Some((recording_id.to_owned(), keys));
            }
            let referenced = cached
                .as_ref()
                .is_some_and(|(_, keys)| keys.contains(&blob.key));
            if referenced {
                continue;
            }
            if blob.modified_ms >= cutoff_ms {
                report.young += 1;
                continue;
            }
            self.blobs.delete(&blob.key).await?;
            report.deleted += 1;
        }
        report.staging_deleted = self.blobs.remove_stale_staging(cutoff_ms).await?;
        Ok(report)
    }

    /// The object keys of every committed part of a recording (any tenant: used only by the
    /// sweep, which must see every reference).
    async fn part_keys_of(&self, recording_id: &str) -> Result<std::collections::HashSet<String>> {
        use sqlx::Row as _;
        let rows = sqlx::query("SELECT object_key FROM recording_parts WHERE recording_id = $1")
            .bind(recording_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("object_key").map_err(Into::into))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_staging_names() {
        let key = part_key("t1", "r1", "pcg", 7);
        assert_eq!(recording_of_key(&key), Some("r1"));
        assert_eq!(recording_of_key("tenants/t1/recordings/r1/pcg"), None);
        assert_eq!(recording_of_key("other/t1/recordings/r1/pcg/x"), None);
        assert_eq!(recording_of_key("tenants/t1/recordings/r1/pcg/x/y"), None);
        assert!(is_staging_name("00000000000000000000-abc#1"));
        assert!(!is_staging_name("00000000000000000000-abc"));
        assert!(!is_staging_name("a#"));
        assert!(!is_staging_name("a#1x"));
    }

    #[test]
    fn durable_write_leaves_only_the_object() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a/b/c/object");
        write_durably(&path, b"hello").expect("write");
        assert_eq!(std::fs::read(&path).expect("read back"), b"hello");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("a/b/c"))
            .expect("list")
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("object")]);
    }
}
