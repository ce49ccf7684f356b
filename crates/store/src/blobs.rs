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
//!   (which renames a staged file into place without any `fsync`): the file is created under its
//!   (fresh) key and written, then the file (data and metadata) is `fsync`ed and its directory
//!   (the new entry) too, in a directory `fsync` shared by every writer waiting for one. A
//!   directory's own entry is made durable (its parent `fsync`ed, up to the root) the first time
//!   this process writes into it, whether or not this process created it, and remembered; so a
//!   write into a known directory costs the file's `fsync` and a share of its directory's. A
//!   crash before `put` returned may leave a torn object, but under a key no row references
//!   (rows are committed only after `put` returned), which the orphan sweep removes.
//!   (Earlier versions staged the bytes in `<key>#<n>` and renamed; stale staging files they
//!   left are still removed.)
//! - **S3** acknowledges a `PUT` only once the object is stored durably, so a successful `put`
//!   is enough.
//!
//! The converse — a blob whose row was never committed (a crash between the two steps, or a
//! writer that lost a race) — is harmless but wastes space; the orphan sweep removes such blobs
//! once they are older than a grace period that is far longer than any write-then-commit takes.
//!
//! # Key layout
//!
//! [`part_key`] puts the parts of every recording of a tenant written in the same UTC hour in one
//! of a few directories ([`SHARDS`], chosen by the recording),
//! `tenants/<tenant>/parts/<YYYY-MM-DDTHH>/<shard>/<recording>_<stream>_<start>_<uuid>`: a new
//! upload creates no directory once the hour's exist (a new directory costs an `fsync` of its
//! parent before the first blob in it is durable), no directory grows without bound, and the
//! creates and `fsync`s of many streams are spread over several directories. Keys written before (one
//! directory per recording and stream, [`legacy_part_key`]) are still read, and swept, as they
//! are: [`recording_of_key`] parses both.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

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
    local: Option<(Arc<LocalFileSystem>, Arc<LocalDirs>)>,
}

/// The root of local blob files and the directories under it whose entries this process made
/// durable (their parents `fsync`ed), so each is synced into its parent once, not per blob.
#[derive(Debug)]
struct LocalDirs {
    root: PathBuf,
    durable: Mutex<HashSet<PathBuf>>,
    /// Per directory, the `fsync`s that make new entries in it durable, shared by every writer
    /// waiting meanwhile ([`DirSync`]).
    syncs: Mutex<HashMap<PathBuf, Arc<DirSync>>>,
}

/// Group commit of a directory's `fsync`: a writer whose file was created in the directory needs
/// one `fsync` of the directory that *started* after the create; every writer that arrives while
/// one runs is covered by the next, which one of them runs for all. Thousands of streams each
/// writing a blob a second into a few directories cost a few directory `fsync`s per flush round
/// instead of one per blob (measured: most of the server's kernel time under the load run was
/// these `fsync`s and the threads that ran them).
#[derive(Debug, Default)]
struct DirSync {
    state: Mutex<DirSyncState>,
    done: Condvar,
}

#[derive(Debug, Default)]
struct DirSyncState {
    /// `fsync`s started so far (the number of the latest).
    started: u64,
    /// The number of the latest `fsync` that succeeded.
    completed: u64,
    /// Whether one is running.
    running: bool,
}

impl DirSync {
    /// Returns once an `fsync` of `dir` that started after this call began has succeeded (run by
    /// this thread, or by another for everyone waiting). A failed `fsync` is returned to the
    /// writer that ran it; the others run their own.
    fn sync(&self, dir: &Path) -> std::io::Result<()> {
        let lock = || self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut s = lock();
        let needed = s.started + 1;
        loop {
            if s.completed >= needed {
                return Ok(());
            }
            if s.running {
                s = self.done.wait(s).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            s.running = true;
            s.started += 1;
            let mine = s.started;
            drop(s);
            let synced = sync_dir(dir);
            s = lock();
            s.running = false;
            if synced.is_ok() {
                s.completed = s.completed.max(mine);
            }
            self.done.notify_all();
            synced?;
        }
    }
}

/// Most directories remembered as durable; the set is emptied when it would grow past this (a
/// forgotten directory is only synced into its parent once more).
const MAX_KNOWN_DIRS: usize = 4096;

impl LocalDirs {
    fn new(root: PathBuf) -> LocalDirs {
        LocalDirs {
            root,
            durable: Mutex::new(HashSet::new()),
            syncs: Mutex::new(HashMap::new()),
        }
    }

    /// The root, anything outside it (never written) and the directories remembered.
    fn is_durable(&self, dir: &Path) -> bool {
        dir == self.root
            || !dir.starts_with(&self.root)
            || self.durable.lock().is_ok_and(|known| known.contains(dir))
    }

    fn remember(&self, dir: &Path) {
        if let Ok(mut known) = self.durable.lock() {
            if known.len() >= MAX_KNOWN_DIRS {
                known.clear();
            }
            known.insert(dir.to_path_buf());
        }
    }

    /// Makes the entries created in `dir` so far durable ([`DirSync`]).
    fn sync_entries(&self, dir: &Path) -> std::io::Result<()> {
        let sync = {
            let mut syncs = self.syncs.lock().unwrap_or_else(PoisonError::into_inner);
            match syncs.get(dir) {
                Some(sync) => Arc::clone(sync),
                None => {
                    if syncs.len() >= MAX_KNOWN_DIRS {
                        // Writers still holding a forgotten one only share less.
                        syncs.clear();
                    }
                    Arc::clone(syncs.entry(dir.to_path_buf()).or_default())
                }
            }
        };
        sync.sync(dir)
    }

    fn forget_all(&self) {
        if let Ok(mut known) = self.durable.lock() {
            known.clear();
        }
    }

    /// Makes `dir` (under the root) exist with a durable entry: created if missing, then its
    /// parent `fsync`ed, and so on up to the first directory already known durable. Syncing a
    /// directory that another writer created is what makes this safe when two writers race to
    /// create it (the loser must not rely on the winner's `fsync` having happened yet).
    fn ensure(&self, dir: &Path) -> std::io::Result<()> {
        if self.is_durable(dir) {
            return Ok(());
        }
        std::fs::create_dir_all(dir)?;
        let mut cursor = dir;
        while !self.is_durable(cursor) {
            let parent = cursor
                .parent()
                .ok_or_else(|| std::io::Error::other("blob directory outside the root"))?;
            sync_dir(parent)?;
            self.remember(cursor);
            cursor = parent;
        }
        Ok(())
    }
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
                // The root exactly as `fs` spells the paths of keys under it.
                let dirs = LocalDirs::new(
                    fs.path_to_filesystem(&ObjectPath::from("x"))?
                        .parent()
                        .map(Path::to_path_buf)
                        .ok_or_else(|| StoreError::BlobSetup("blob root has no path".into()))?,
                );
                local = Some((Arc::clone(&fs), Arc::new(dirs)));
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
            Some((fs, dirs)) => {
                let path = fs.path_to_filesystem(&location)?;
                let dirs = Arc::clone(dirs);
                tokio::task::spawn_blocking(move || write_durably(&dirs, &path, &data))
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

    /// For local files: deletes staging files (`<key>#<n>`, written by earlier versions) that a
    /// crash left behind, when last modified before `cutoff_ms`. Returns how many were deleted
    /// (always 0 for S3, which has no staging files).
    pub async fn remove_stale_staging(&self, cutoff_ms: i64) -> Result<u64> {
        let Some((_, dirs)) = &self.local else {
            return Ok(0);
        };
        let root = dirs.root.clone();
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
/// stable storage: the file is created under its key (never an existing one: keys are fresh),
/// written and `fsync`ed, and then its directory (whose own entry [`LocalDirs::ensure`] made
/// durable first) is `fsync`ed, in one `fsync` shared with every writer waiting meanwhile
/// ([`DirSync`]). Until both returned no row
/// references the key, so a crash meanwhile leaves at worst a torn object that nothing
/// references, which the orphan sweep removes.
fn write_durably(dirs: &LocalDirs, path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("blob path has no directory"))?;
    dirs.ensure(dir)?;
    let create = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
    };
    let mut file = match create() {
        Ok(file) => file,
        // A directory remembered as durable is gone (removed by hand): made again, durably.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            dirs.forget_all();
            dirs.ensure(dir)?;
            create()?
        }
        Err(e) => return Err(e),
    };
    let written = file
        .write_all(data)
        .and_then(|()| file.sync_all())
        .and_then(|()| dirs.sync_entries(dir));
    if let Err(e) = written {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(e);
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

/// The recording id in a part key: one built by [`part_key`]
/// (`tenants/<tenant>/parts/<hour>/<shard>/<recording>_<stream>_<start>_<uuid>`) or by
/// [`legacy_part_key`] (`tenants/<tenant>/recordings/<recording>/<stream>/<name>`); `None` for
/// any other key.
pub fn recording_of_key(key: &str) -> Option<&str> {
    let segments: Vec<&str> = key.split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return None;
    }
    match segments.as_slice() {
        ["tenants", _, "recordings", recording, _, _] => Some(recording),
        ["tenants", _, "parts", _, _, name] => {
            // From the right: the uuid, the start and the stream never hold a `_`.
            let mut fields = name.rsplitn(4, '_');
            let (_uuid, start, _stream, recording) = (
                fields.next()?,
                fields.next()?,
                fields.next()?,
                fields.next()?,
            );
            let well_formed = !recording.is_empty()
                && !start.is_empty()
                && start.bytes().all(|b| b.is_ascii_digit())
                && !is_staging_name(name);
            well_formed.then_some(recording)
        }
        _ => None,
    }
}

/// The key of a fresh part object of a recording's signal stream (`stream` names what it holds,
/// e.g. `parts` for a flush's blob of every stream), written now: under the tenant's directory of
/// the current UTC hour, in one of [`SHARDS`] subdirectories chosen by the recording (see the
/// module documentation).
pub fn part_key(tenant_id: &str, recording_id: &str, stream: &str, start: u64) -> String {
    let hour = chrono::Utc::now().format("%Y-%m-%dT%H");
    let shard = shard_of(recording_id);
    format!(
        "tenants/{tenant_id}/parts/{hour}/{shard:x}/{recording_id}_{stream}_{start:020}_{}",
        uuid::Uuid::new_v4().simple()
    )
}

/// How many directories one tenant-hour's parts are spread over: one directory taking every
/// stream's creates and `fsync`s serialises them (measured: the tail of a write grew several
/// times with 32 writers in one directory), a few spread them while a new upload still creates
/// no directory once the hour's are there.
pub const SHARDS: u8 = 16;

/// The shard of a recording: FNV-1a of its id, modulo [`SHARDS`].
fn shard_of(recording_id: &str) -> u8 {
    let hash = recording_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    u8::try_from(hash % u64::from(SHARDS)).unwrap_or(0)
}

/// A part key in the layout written before [`part_key`]'s: one directory per recording and
/// stream. Such keys are still read and swept; nothing in the server writes new ones.
pub fn legacy_part_key(tenant_id: &str, recording_id: &str, stream: &str, start: u64) -> String {
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
    /// Part keys of both layouts ([`part_key`], [`legacy_part_key`]) are swept.
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
        // The part objects grouped by recording (the parts of many recordings share a directory),
        // so the referenced keys are read with one query per recording.
        let mut by_recording: std::collections::BTreeMap<String, Vec<BlobInfo>> =
            std::collections::BTreeMap::new();
        for blob in self.blobs.list("tenants").await? {
            let Some(recording_id) = recording_of_key(&blob.key) else {
                continue;
            };
            report.examined += 1;
            by_recording
                .entry(recording_id.to_owned())
                .or_default()
                .push(blob);
        }
        for (recording_id, blobs) in by_recording {
            let referenced = self.part_keys_of(&recording_id).await?;
            for blob in blobs {
                if referenced.contains(&blob.key) {
                    continue;
                }
                if blob.modified_ms >= cutoff_ms {
                    report.young += 1;
                    continue;
                }
                self.blobs.delete(&blob.key).await?;
                report.deleted += 1;
            }
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

    /// Many writers into one directory: every blob is whole on return, and the directory's
    /// `fsync`s were shared (fewer than the writes).
    #[test]
    fn concurrent_writers_share_directory_syncs() {
        let root = tempfile::tempdir().expect("temp dir");
        let dirs = LocalDirs::new(root.path().to_path_buf());
        let dir = root.path().join("a").join("b");
        let (threads, each) = (16, 10);
        std::thread::scope(|scope| {
            for t in 0..threads {
                let (dirs, dir) = (&dirs, &dir);
                scope.spawn(move || {
                    for i in 0..each {
                        let data = vec![t as u8; 1000 + i];
                        write_durably(dirs, &dir.join(format!("{t}-{i}")), &data).expect("write");
                    }
                });
            }
        });
        for t in 0..threads {
            for i in 0..each {
                let read = std::fs::read(dir.join(format!("{t}-{i}"))).expect("read back");
                assert_eq!(read, vec![t as u8; 1000 + i]);
            }
        }
        let syncs = dirs.syncs.lock().expect("syncs");
        let started = syncs[&dir].state.lock().expect("state").started;
        assert!(
            started < (threads * each) as u64,
            "{started} directory fsyncs for {} writes",
            threads * each
        );
    }

    #[test]
    fn keys_and_staging_names() {
        let key = part_key("t1", "r1", "pcg", 7);
        assert!(key.starts_with("tenants/t1/parts/"), "{key}");
        assert_eq!(recording_of_key(&key), Some("r1"));
        let legacy = legacy_part_key("t1", "r1", "pcg", 7);
        assert!(
            legacy.starts_with("tenants/t1/recordings/r1/pcg/"),
            "{legacy}"
        );
        assert_eq!(recording_of_key(&legacy), Some("r1"));
        // A recording id with `_` still parses (the other fields never hold one).
        let odd = part_key("t1", "r_1", "parts", 0);
        assert_eq!(recording_of_key(&odd), Some("r_1"));
        assert_eq!(recording_of_key(&format!("{key}#1")), None, "staging");
        assert_eq!(
            recording_of_key("tenants/t1/parts/2026-01-01T00/3/r1"),
            None
        );
        assert_eq!(
            recording_of_key("tenants/t1/parts/2026-01-01T00/3/_pcg_00000000000000000007_ab"),
            None
        );
        assert_eq!(
            recording_of_key("tenants/t1/parts/2026-01-01T00/3/r1_pcg_x7_ab"),
            None
        );
        assert_eq!(recording_of_key("tenants/t1/parts/h/r1_pcg_0_ab"), None);
        assert_eq!(recording_of_key("tenants//parts/h/3/r1_pcg_0_ab"), None);
        // Every shard is used, and a recording always goes to the same one.
        let shards: std::collections::HashSet<u8> =
            (0..1000).map(|i| shard_of(&format!("rec-{i}"))).collect();
        assert_eq!(shards.len(), usize::from(SHARDS));
        assert_eq!(shard_of("r1"), shard_of("r1"));
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
        let dirs = LocalDirs::new(dir.path().to_path_buf());
        let path = dir.path().join("a/b/c/object");
        write_durably(&dirs, &path, b"hello").expect("write");
        for known in ["a", "a/b", "a/b/c"] {
            assert!(dirs.is_durable(&dir.path().join(known)), "{known}");
        }
        // A remembered directory removed behind the store's back is made again.
        std::fs::remove_dir_all(dir.path().join("a")).expect("remove");
        write_durably(&dirs, &path, b"hello").expect("write again");
        assert_eq!(std::fs::read(&path).expect("read back"), b"hello");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("a/b/c"))
            .expect("list")
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("object")]);
    }
}
