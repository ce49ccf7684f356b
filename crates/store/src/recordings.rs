//! Recordings: uploads in progress, their committed parts, and finished recordings (cases).
//!
//! Architecture invariant: every query that reads or changes a recording names the tenant, so a
//! caller can never reach another tenant's recording by id (the one sweep across tenants,
//! [`Store::expire_abandoned_uploads`], is the server's own maintenance and names each
//! recording's tenant once it found it). Committed counts only ever grow, by
//! compare-and-set, so two writers racing on one upload cannot both commit the same range.

use auscult_dsp::Term;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Store;
use crate::db::{new_id, to_i64, to_u64};
use crate::error::{Result, StoreError};
use crate::ids::{CaseId, DeviceId, TenantId};

/// A recording's signal streams, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// Phonocardiogram samples.
    Pcg,
    /// Raw ECG samples.
    Ecg,
    /// R-peak times (little-endian f64 seconds).
    RPeaks,
}

impl StreamKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::Pcg => "pcg",
            StreamKind::Ecg => "ecg",
            StreamKind::RPeaks => "rpeaks",
        }
    }
    fn committed_column(self) -> &'static str {
        match self {
            StreamKind::Pcg => "pcg_committed",
            StreamKind::Ecg => "ecg_committed",
            StreamKind::RPeaks => "rpeaks_committed",
        }
    }
}

/// How a stream's samples are encoded, as stored (`s16le`, `f32le`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SampleFormat {
    /// Signed 16-bit little-endian integers.
    S16le,
    /// 32-bit little-endian IEEE floats.
    F32le,
}

impl SampleFormat {
    /// Bytes per sample.
    pub const fn width(self) -> usize {
        match self {
            SampleFormat::S16le => 2,
            SampleFormat::F32le => 4,
        }
    }
}

impl Term for SampleFormat {
    const ALL: &'static [Self] = &[SampleFormat::S16le, SampleFormat::F32le];
    const WHAT: &'static str = "sample format";
    fn as_str(self) -> &'static str {
        match self {
            SampleFormat::S16le => "s16le",
            SampleFormat::F32le => "f32le",
        }
    }
}

/// What a recording carries besides its PCG, as stored (`none`, `samples`, `r_peaks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EcgMode {
    /// No ECG.
    None,
    /// Raw ECG samples.
    Samples,
    /// R-peak times only.
    RPeaks,
}

impl Term for EcgMode {
    const ALL: &'static [Self] = &[EcgMode::None, EcgMode::Samples, EcgMode::RPeaks];
    const WHAT: &'static str = "ECG mode";
    fn as_str(self) -> &'static str {
        match self {
            EcgMode::None => "none",
            EcgMode::Samples => "samples",
            EcgMode::RPeaks => "r_peaks",
        }
    }
}

/// The one reading of a stored recording term: its spelling, or [`StoreError::Corrupt`].
fn stored_term<T: Term>(spelling: &str) -> Result<T> {
    T::parse(spelling).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "{:?} is not a {}",
            spelling.chars().take(64).collect::<String>(),
            T::WHAT
        ))
    })
}

impl NewRecording {
    /// The PCG sample format ([`StoreError::Corrupt`] for a spelling this version does not
    /// know, never a default).
    pub fn pcg_sample_format(&self) -> Result<SampleFormat> {
        stored_term(&self.pcg_format)
    }

    /// The raw ECG sample format, `None` without raw ECG.
    pub fn ecg_sample_format(&self) -> Result<Option<SampleFormat>> {
        (!self.ecg_format.is_empty())
            .then(|| stored_term(&self.ecg_format))
            .transpose()
    }

    /// What the recording carries besides its PCG.
    pub fn ecg(&self) -> Result<EcgMode> {
        stored_term(&self.ecg_mode)
    }
}

/// Counts of items per stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// PCG samples.
    pub pcg: u64,
    /// ECG samples.
    pub ecg: u64,
    /// R peaks.
    pub r_peaks: u64,
}

impl Counts {
    /// The count of one stream.
    pub fn get(&self, stream: StreamKind) -> u64 {
        match stream {
            StreamKind::Pcg => self.pcg,
            StreamKind::Ecg => self.ecg,
            StreamKind::RPeaks => self.r_peaks,
        }
    }
    /// A mutable reference to the count of one stream.
    pub fn get_mut(&mut self, stream: StreamKind) -> &mut u64 {
        match stream {
            StreamKind::Pcg => &mut self.pcg,
            StreamKind::Ecg => &mut self.ecg,
            StreamKind::RPeaks => &mut self.r_peaks,
        }
    }
}

/// What a device declares about a recording before sending it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecording {
    /// The device's chosen upload id.
    pub upload_id: String,
    /// The device's serial as it reported it.
    pub device_serial: String,
    /// Pseudonymous subject id.
    pub subject_id: String,
    /// Site name (`aortic`, ...).
    pub site: String,
    /// Position name (`supine`, ...).
    pub position: String,
    /// Device start time, Unix ms.
    pub started_at_ms: i64,
    /// PCG rate.
    pub pcg_rate_hz: u32,
    /// PCG sample format, spelled by [`SampleFormat`]; read it with
    /// [`NewRecording::pcg_sample_format`].
    pub pcg_format: String,
    /// Spelled by [`EcgMode`]; read it with [`NewRecording::ecg`].
    pub ecg_mode: String,
    /// ECG rate, 0 without raw ECG.
    pub ecg_rate_hz: u32,
    /// ECG format, empty without raw ECG; read it with [`NewRecording::ecg_sample_format`].
    pub ecg_format: String,
    /// Declared payload SHA-256, if any.
    pub payload_sha256: Option<Vec<u8>>,
}

/// Upload and analysis state of a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingRow {
    /// The recording (case) id.
    pub id: String,
    /// The owning tenant.
    pub tenant_id: String,
    /// The uploading device principal.
    pub device_id: String,
    /// What the device declared.
    pub meta: NewRecording,
    /// Durably committed counts.
    pub committed: Counts,
    /// `receiving` or `complete`.
    pub state: String,
    /// When the upload began, Unix ms.
    pub received_at_ms: i64,
    /// When the upload completed, Unix ms.
    pub completed_at_ms: Option<i64>,
    /// `none`, `pending`, `done` or `failed`.
    pub analysis_state: String,
    /// Why analysis failed.
    pub analysis_error: Option<String>,
    /// The stored analysis (JSON of [`crate::analysis::StoredAnalysis`]).
    pub analysis_json: Option<String>,
    /// When analysed, Unix ms.
    pub analysed_at_ms: Option<i64>,
    /// Engine flag.
    pub flagged: bool,
    /// `present`, `absent`, `unknown`.
    pub murmur_status: Option<String>,
    /// Heart rate if measured.
    pub heart_rate_bpm: Option<f64>,
    /// PCG duration in seconds.
    pub duration_s: f64,
    /// Worklist priority.
    pub priority: i64,
    /// How many reviews.
    pub review_count: u32,
    /// The latest verdict.
    pub last_verdict: Option<String>,
}

/// An incomplete upload deleted by [`Store::expire_abandoned_uploads`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredUpload {
    /// Its tenant.
    pub tenant_id: String,
    /// Its recording id.
    pub recording_id: String,
    /// How many stored parts (blobs) it had.
    pub parts: usize,
}

/// Recording states.
pub mod state {
    /// Data is arriving.
    pub const RECEIVING: &str = "receiving";
    /// Every byte is stored; a case.
    pub const COMPLETE: &str = "complete";
}

/// Analysis states.
pub mod analysis_state {
    /// Not yet complete, nothing to analyse.
    pub const NONE: &str = "none";
    /// Queued or running.
    pub const PENDING: &str = "pending";
    /// Analysed.
    pub const DONE: &str = "done";
    /// Failed after all retries.
    pub const FAILED: &str = "failed";
}

/// One committed part of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// First item index.
    pub start: u64,
    /// Number of items.
    pub count: u64,
    /// Blob key.
    pub object_key: String,
    /// Where the part's bytes are in the blob (one flush writes every stream's new bytes to one
    /// blob); `None`: the whole blob.
    pub bytes: Option<std::ops::Range<u64>>,
}

/// Filters of the worklist.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    /// `flagged`, `unreviewed`, `reviewed` or `None` for all.
    pub status: Option<CaseStatus>,
    /// Site name.
    pub site: Option<String>,
    /// Subject id.
    pub subject_id: Option<String>,
    /// Inclusive lower bound on `started_at_ms`.
    pub from_ms: Option<i64>,
    /// Exclusive upper bound on `started_at_ms`.
    pub until_ms: Option<i64>,
}

/// The worklist's status filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseStatus {
    /// Flagged by the engine and not reviewed.
    Flagged,
    /// No review yet.
    Unreviewed,
    /// At least one review.
    Reviewed,
}

/// A case's position in the worklist order: the keyset cursor of [`Store::list_cases`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseKey {
    /// Worklist priority (higher first).
    pub priority: i64,
    /// Device start time, Unix ms (later first).
    pub started_at_ms: i64,
    /// Recording id (ascending, breaks ties).
    pub id: String,
}

impl CaseKey {
    /// The key of a row.
    pub fn of(row: &RecordingRow) -> CaseKey {
        CaseKey {
            priority: row.priority,
            started_at_ms: row.meta.started_at_ms,
            id: row.id.clone(),
        }
    }
}

/// One part of one upload to record with [`Store::commit_parts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartCommit {
    /// The upload's tenant.
    pub tenant_id: String,
    /// The recording.
    pub recording_id: String,
    /// Which stream.
    pub stream: StreamKind,
    /// The part (its blob already written).
    pub part: Part,
}

/// Records one part in `tx` when its start is its stream's committed count (compare-and-set):
/// advances the count and inserts the part row. `false` when the count had moved or the upload
/// is not receiving.
async fn record_part(tx: &mut sqlx::Transaction<'_, sqlx::Any>, c: &PartCommit) -> Result<bool> {
    let Some(end) = c.part.start.checked_add(c.part.count) else {
        return Ok(false);
    };
    let column = c.stream.committed_column();
    let sql = format!(
        "UPDATE recordings SET {column} = $1 WHERE tenant_id = $2 AND id = $3 AND {column} = $4 AND state = $5"
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(to_i64(end))
        .bind(&c.tenant_id)
        .bind(&c.recording_id)
        .bind(to_i64(c.part.start))
        .bind(state::RECEIVING)
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    let range = c.part.bytes.as_ref();
    sqlx::query(
        "INSERT INTO recording_parts (recording_id, stream, start_index, item_count, object_key, \
         byte_offset, byte_len) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&c.recording_id)
    .bind(c.stream.as_str())
    .bind(to_i64(c.part.start))
    .bind(to_i64(c.part.count))
    .bind(&c.part.object_key)
    .bind(range.map(|r| to_i64(r.start)))
    .bind(range.map(|r| to_i64(r.end - r.start)))
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// An upload's completion: its totals and the parts of its last flush, recorded in the same
/// transaction (one durable commit instead of two at the end of every upload).
#[derive(Debug, Clone, Copy)]
pub struct Completion<'a> {
    /// The upload's tenant.
    pub tenant_id: &'a TenantId,
    /// The recording.
    pub recording_id: &'a CaseId,
    /// What the device says it sent, to equal what is committed.
    pub totals: Counts,
    /// The PCG's duration, s.
    pub duration_s: f64,
    /// The last flush's parts (blobs already written), recorded first.
    pub last_parts: &'a [PartCommit],
}

/// The work of [`Store::finish_upload`] in `tx` (which the caller commits, or rolls back on an
/// error).
async fn complete_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    completion: Completion<'_>,
    actor: &crate::audit::Actor<'_>,
    now_ms: i64,
) -> Result<()> {
    let Completion {
        tenant_id,
        recording_id,
        totals,
        duration_s,
        last_parts,
    } = completion;
    for part in last_parts {
        if part.tenant_id != tenant_id.as_str() || part.recording_id != recording_id.as_str() {
            return Err(StoreError::Conflict("a last part of another upload"));
        }
        if !record_part(tx, part).await? {
            return Err(StoreError::Conflict("committed offset moved"));
        }
    }
    let done = sqlx::query(
        "UPDATE recordings SET state = $1, completed_at_ms = $2, analysis_state = $3, duration_s = $4 \
         WHERE tenant_id = $5 AND id = $6 AND state = $7 \
         AND pcg_committed = $8 AND ecg_committed = $9 AND rpeaks_committed = $10",
    )
    .bind(state::COMPLETE)
    .bind(now_ms)
    .bind(analysis_state::PENDING)
    .bind(duration_s)
    .bind(tenant_id.as_str())
    .bind(recording_id.as_str())
    .bind(state::RECEIVING)
    .bind(to_i64(totals.pcg))
    .bind(to_i64(totals.ecg))
    .bind(to_i64(totals.r_peaks))
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Conflict(
            "upload not receiving or counts differ",
        ));
    }
    sqlx::query(
        "INSERT INTO analysis_jobs (id, tenant_id, recording_id, state, run_after_ms, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new_id())
    .bind(tenant_id.as_str())
    .bind(recording_id.as_str())
    .bind(crate::jobs::job_state::QUEUED)
    .bind(now_ms)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    crate::audit::insert_audit(
        tx,
        actor,
        "upload.complete",
        Some(recording_id.as_str()),
        None,
        now_ms,
    )
    .await?;
    Ok(())
}

/// A new upload's row, as [`Store::open_upload`] (or a group commit, [`GroupItem::Open`]) inserts
/// it.
#[derive(Debug, Clone)]
pub struct OpenCommit {
    /// The new recording's id (unused when the device already has this upload).
    pub id: String,
    /// The device's tenant.
    pub tenant_id: TenantId,
    /// The device.
    pub device_id: DeviceId,
    /// What the device declared.
    pub meta: NewRecording,
    /// When, Unix ms.
    pub now_ms: i64,
}

/// Inserts an upload's row unless the device already has that upload. Whether it inserted it.
async fn insert_upload_row<'c, E>(executor: E, row: &OpenCommit) -> Result<bool>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let meta = &row.meta;
    let inserted = sqlx::query(
        "INSERT INTO recordings (id, tenant_id, device_id, upload_id, device_serial, subject_id, site, \
         position, started_at_ms, pcg_rate_hz, pcg_format, ecg_mode, ecg_rate_hz, ecg_format, \
         payload_sha256, state, received_at_ms, analysis_state) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
         ON CONFLICT (device_id, upload_id) DO NOTHING",
    )
    .bind(&row.id)
    .bind(row.tenant_id.as_str())
    .bind(row.device_id.as_str())
    .bind(&meta.upload_id)
    .bind(&meta.device_serial)
    .bind(&meta.subject_id)
    .bind(&meta.site)
    .bind(&meta.position)
    .bind(meta.started_at_ms)
    .bind(i64::from(meta.pcg_rate_hz))
    .bind(&meta.pcg_format)
    .bind(&meta.ecg_mode)
    .bind(i64::from(meta.ecg_rate_hz))
    .bind(&meta.ecg_format)
    .bind(meta.payload_sha256.clone())
    .bind(state::RECEIVING)
    .bind(row.now_ms)
    .bind(analysis_state::NONE)
    .execute(executor)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// One upload's completion as the group committer carries it (owned): see [`Completion`].
#[derive(Debug, Clone)]
pub struct CompletionCommit {
    /// The upload's tenant.
    pub tenant_id: TenantId,
    /// The recording.
    pub recording_id: CaseId,
    /// What the device says it sent, to equal what is committed.
    pub totals: Counts,
    /// The PCG's duration, s.
    pub duration_s: f64,
    /// The last flush's parts (blobs already written), recorded first.
    pub last_parts: Vec<PartCommit>,
    /// Who completes it (the device): its tenant, principal and role, for the audit event.
    pub actor_tenant_id: Option<String>,
    /// The acting principal.
    pub actor_principal_id: String,
    /// The actor's role.
    pub actor_role: String,
    /// When, Unix ms.
    pub now_ms: i64,
}

/// What one stream hands the group committer: a flush's parts, or its upload's completion.
#[derive(Debug, Clone)]
pub enum GroupItem {
    /// A new upload's row, as [`Store::open_upload`] inserts it (recorded: inserted; `false`
    /// when the device already had that upload).
    Open(OpenCommit),
    /// Parts, each recorded on its own as [`Store::commit_parts`] does.
    Parts(Vec<PartCommit>),
    /// A completion, all or nothing as [`Store::finish_upload`] does.
    Complete(CompletionCommit),
}

const RECORDING_COLUMNS: &str = "id, tenant_id, device_id, upload_id, device_serial, subject_id, site, position, \
     started_at_ms, pcg_rate_hz, pcg_format, ecg_mode, ecg_rate_hz, ecg_format, payload_sha256, \
     pcg_committed, ecg_committed, rpeaks_committed, state, received_at_ms, completed_at_ms, \
     analysis_state, analysis_error, analysis_json, analysed_at_ms, flagged, murmur_status, \
     heart_rate_bpm, duration_s, priority, review_count, last_verdict";

fn u32_col(row: &AnyRow, name: &str) -> Result<u32> {
    let v: i64 = row.try_get(name)?;
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{name} out of range")))
}

fn recording_from_row(row: &AnyRow) -> Result<RecordingRow> {
    let flagged: i64 = row.try_get("flagged")?;
    let review_count: i64 = row.try_get("review_count")?;
    Ok(RecordingRow {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        device_id: row.try_get("device_id")?,
        meta: NewRecording {
            upload_id: row.try_get("upload_id")?,
            device_serial: row.try_get("device_serial")?,
            subject_id: row.try_get("subject_id")?,
            site: row.try_get("site")?,
            position: row.try_get("position")?,
            started_at_ms: row.try_get("started_at_ms")?,
            pcg_rate_hz: u32_col(row, "pcg_rate_hz")?,
            pcg_format: row.try_get("pcg_format")?,
            ecg_mode: row.try_get("ecg_mode")?,
            ecg_rate_hz: u32_col(row, "ecg_rate_hz")?,
            ecg_format: row.try_get("ecg_format")?,
            payload_sha256: row.try_get("payload_sha256")?,
        },
        committed: Counts {
            pcg: to_u64(row.try_get("pcg_committed")?),
            ecg: to_u64(row.try_get("ecg_committed")?),
            r_peaks: to_u64(row.try_get("rpeaks_committed")?),
        },
        state: row.try_get("state")?,
        received_at_ms: row.try_get("received_at_ms")?,
        completed_at_ms: row.try_get("completed_at_ms")?,
        analysis_state: row.try_get("analysis_state")?,
        analysis_error: row.try_get("analysis_error")?,
        analysis_json: row.try_get("analysis_json")?,
        analysed_at_ms: row.try_get("analysed_at_ms")?,
        flagged: flagged != 0,
        murmur_status: row.try_get("murmur_status")?,
        heart_rate_bpm: row.try_get("heart_rate_bpm")?,
        duration_s: row.try_get("duration_s")?,
        priority: row.try_get("priority")?,
        review_count: u32::try_from(review_count).unwrap_or(u32::MAX),
        last_verdict: row.try_get("last_verdict")?,
    })
}

impl Store {
    /// Finds the upload `upload_id` of a device, or starts it with `meta`. Returns the row and
    /// whether it was created by this call.
    ///
    /// (The ingest server inserts new rows through its group committer instead,
    /// [`GroupItem::Open`], and reads them back with [`Store::find_upload`].)
    pub async fn open_upload(
        &self,
        tenant_id: &TenantId,
        device_id: &DeviceId,
        meta: &NewRecording,
        now_ms: i64,
    ) -> Result<(RecordingRow, bool)> {
        if let Some(row) = self
            .find_upload(tenant_id, device_id, &meta.upload_id)
            .await?
        {
            return Ok((row, false));
        }
        let open = OpenCommit {
            id: new_id(),
            tenant_id: tenant_id.clone(),
            device_id: device_id.clone(),
            meta: meta.clone(),
            now_ms,
        };
        let inserted = insert_upload_row(&self.pool, &open).await?;
        let row = self
            .find_upload(tenant_id, device_id, &meta.upload_id)
            .await?
            .ok_or(StoreError::Conflict("upload vanished after insert"))?;
        Ok((row, inserted))
    }

    /// A fingerprint of the tenant's worklist (how many cases, the newest upload, analysis and
    /// review count): it changes whenever a case arrives, is analysed or reviewed. A page that
    /// polls the worklist asks for it first and re-reads (and audits) the cases only when it
    /// changed. Reveals no person's data, so it is not audited.
    pub async fn worklist_version(&self, tenant_id: &TenantId) -> Result<String> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(MAX(completed_at_ms), 0) AS completed, \
             COALESCE(MAX(analysed_at_ms), 0) AS analysed, CAST(COALESCE(SUM(review_count), 0) AS BIGINT) AS reviews \
             FROM recordings WHERE tenant_id = $1 AND state = $2",
        )
        .bind(tenant_id.as_str())
        .bind(state::COMPLETE)
        .fetch_one(&self.pool)
        .await?;
        let n: i64 = row.try_get("n")?;
        let completed: i64 = row.try_get("completed")?;
        let analysed: i64 = row.try_get("analysed")?;
        let reviews: i64 = row.try_get("reviews")?;
        Ok(format!("{n}-{completed}-{analysed}-{reviews}"))
    }

    /// Bytes of signal a device has stored in uploads started since `since_ms` (complete or
    /// not): what its storage quota counts.
    pub async fn device_bytes_since(
        &self,
        tenant_id: &TenantId,
        device_id: &DeviceId,
        since_ms: i64,
    ) -> Result<u64> {
        let rows = sqlx::query(
            "SELECT pcg_committed, pcg_format, ecg_committed, ecg_format, rpeaks_committed \
             FROM recordings WHERE tenant_id = $1 AND device_id = $2 AND received_at_ms >= $3",
        )
        .bind(tenant_id.as_str())
        .bind(device_id.as_str())
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        let mut total: u64 = 0;
        for row in &rows {
            let pcg_format: String = row.try_get("pcg_format")?;
            let ecg_format: String = row.try_get("ecg_format")?;
            let pcg = to_u64(row.try_get("pcg_committed")?)
                .saturating_mul(stored_term::<SampleFormat>(&pcg_format)?.width() as u64);
            let ecg = if ecg_format.is_empty() {
                0
            } else {
                to_u64(row.try_get("ecg_committed")?)
                    .saturating_mul(stored_term::<SampleFormat>(&ecg_format)?.width() as u64)
            };
            let peaks = to_u64(row.try_get("rpeaks_committed")?).saturating_mul(8);
            total = total
                .saturating_add(pcg)
                .saturating_add(ecg)
                .saturating_add(peaks);
        }
        Ok(total)
    }

    /// Deletes at most `limit` uploads that were started before `started_before_ms` and never
    /// completed (their device gave up, or lost the recording), with their parts and blobs, and
    /// returns them. Each is deleted in one transaction that re-checks it is still receiving
    /// (an upload completed meanwhile is kept) and records an `upload.expired` audit event in its
    /// tenant; its blobs are removed after the commit (a blob left by a failure there is an orphan
    /// no row points at). An upload linked to a programme visit is kept. A device that resumes an
    /// expired upload later is told nothing was committed and sends it again from the start.
    pub async fn expire_abandoned_uploads(
        &self,
        started_before_ms: i64,
        limit: i64,
        now_ms: i64,
    ) -> Result<Vec<ExpiredUpload>> {
        let candidates = sqlx::query(
            "SELECT id, tenant_id, subject_id FROM recordings r WHERE state = $1 AND received_at_ms < $2 \
             AND NOT EXISTS (SELECT 1 FROM program_visit_recordings v WHERE v.recording_id = r.id) \
             ORDER BY received_at_ms LIMIT $3",
        )
        .bind(state::RECEIVING)
        .bind(started_before_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut expired = Vec::new();
        for row in &candidates {
            let recording_id: String = row.try_get("id")?;
            let tenant_id: String = row.try_get("tenant_id")?;
            let subject_id: String = row.try_get("subject_id")?;
            let mut tx = self.pool.begin().await?;
            // Lock the row first (and skip it if it completed meanwhile).
            let still = sqlx::query(
                "UPDATE recordings SET state = state WHERE tenant_id = $1 AND id = $2 AND state = $3 AND received_at_ms < $4",
            )
            .bind(&tenant_id)
            .bind(&recording_id)
            .bind(state::RECEIVING)
            .bind(started_before_ms)
            .execute(&mut *tx)
            .await?;
            if still.rows_affected() != 1 {
                continue;
            }
            let keys: Vec<String> =
                sqlx::query("SELECT object_key FROM recording_parts WHERE recording_id = $1")
                    .bind(&recording_id)
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(|r| r.try_get("object_key"))
                    .collect::<std::result::Result<_, _>>()?;
            sqlx::query("DELETE FROM recording_parts WHERE recording_id = $1")
                .bind(&recording_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM recordings WHERE tenant_id = $1 AND id = $2")
                .bind(&tenant_id)
                .bind(&recording_id)
                .execute(&mut *tx)
                .await?;
            let actor = crate::audit::Actor {
                tenant_id: Some(&tenant_id),
                principal_id: "system",
                role: "system",
            };
            crate::audit::insert_audit(
                &mut tx,
                &actor,
                "upload.expired",
                Some(&recording_id),
                Some(&subject_id),
                now_ms,
            )
            .await?;
            tx.commit().await?;
            for key in &keys {
                self.blobs.delete(key).await?;
            }
            expired.push(ExpiredUpload {
                tenant_id,
                recording_id,
                parts: keys.len(),
            });
        }
        Ok(expired)
    }

    /// The upload `upload_id` of a device in a tenant.
    pub async fn find_upload(
        &self,
        tenant_id: &TenantId,
        device_id: &DeviceId,
        upload_id: &str,
    ) -> Result<Option<RecordingRow>> {
        let sql = format!(
            "SELECT {RECORDING_COLUMNS} FROM recordings WHERE tenant_id = $1 AND device_id = $2 AND upload_id = $3"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id.as_str())
            .bind(device_id.as_str())
            .bind(upload_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(recording_from_row).transpose()
    }

    /// One recording of a tenant, whatever its state.
    pub async fn get_recording(
        &self,
        tenant_id: &TenantId,
        recording_id: &CaseId,
    ) -> Result<Option<RecordingRow>> {
        let sql =
            format!("SELECT {RECORDING_COLUMNS} FROM recordings WHERE tenant_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id.as_str())
            .bind(recording_id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(recording_from_row).transpose()
    }

    /// Records that the blob `part.object_key` holds items `part.start..part.start + part.count` of
    /// a stream, advancing the committed count from exactly `part.start`. Fails with
    /// [`StoreError::Conflict`] when the committed count is not `part.start` or the upload is no
    /// longer receiving (another writer advanced it).
    pub async fn commit_part(
        &self,
        tenant_id: &TenantId,
        recording_id: &CaseId,
        stream: StreamKind,
        part: &Part,
    ) -> Result<()> {
        let column = stream.committed_column();
        let end = part
            .start
            .checked_add(part.count)
            .ok_or(StoreError::Conflict("count overflow"))?;
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "UPDATE recordings SET {column} = $1 WHERE tenant_id = $2 AND id = $3 AND {column} = $4 AND state = $5"
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(to_i64(end))
            .bind(tenant_id.as_str())
            .bind(recording_id.as_str())
            .bind(to_i64(part.start))
            .bind(state::RECEIVING)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict("committed offset moved"));
        }
        sqlx::query(
            "INSERT INTO recording_parts (recording_id, stream, start_index, item_count, object_key) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(recording_id.as_str())
        .bind(stream.as_str())
        .bind(to_i64(part.start))
        .bind(to_i64(part.count))
        .bind(&part.object_key)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Group commit: records many parts (of any uploads of any tenants) in ONE transaction, so one
    /// durable database commit serves many streams. Each part is checked exactly as
    /// [`Store::commit_part`] checks it (the committed count must still be `part.start` and the
    /// upload still receiving); the answer says, per part and in order, whether it was recorded.
    /// A part that fails its check changes nothing and does not affect the others; a database
    /// error fails (and rolls back) the whole batch.
    pub async fn commit_parts(&self, batch: &[PartCommit]) -> Result<Vec<bool>> {
        let mut tx = self.pool.begin().await?;
        let mut recorded = Vec::with_capacity(batch.len());
        for c in batch {
            recorded.push(record_part(&mut tx, c).await?);
        }
        tx.commit().await?;
        Ok(recorded)
    }

    /// Group commit of parts and completions of many uploads in ONE transaction (one durable
    /// commit). Items are applied in order: [`GroupItem::Open`] as [`Store::open_upload`] inserts,
    /// [`GroupItem::Parts`] as [`Store::commit_parts`] does
    /// (each part checked on its own), [`GroupItem::Complete`] as [`Store::finish_upload`] does,
    /// inside a savepoint so that a completion that fails its checks changes nothing and does not
    /// affect the others. The answer says, per item, whether it was recorded in full (`false`: a
    /// part's committed count had moved, or the completion's checks failed). A database error
    /// fails (and rolls back) the whole group.
    pub async fn commit_group(&self, items: &[GroupItem]) -> Result<Vec<bool>> {
        use sqlx::Acquire as _;
        let mut tx = self.pool.begin().await?;
        let mut recorded = Vec::with_capacity(items.len());
        for item in items {
            let ok = match item {
                GroupItem::Open(open) => insert_upload_row(&mut *tx, open).await?,
                GroupItem::Parts(parts) => {
                    let mut all = true;
                    for part in parts {
                        all &= record_part(&mut tx, part).await?;
                    }
                    all
                }
                GroupItem::Complete(c) => {
                    let mut savepoint = tx.begin().await?;
                    let actor = crate::audit::Actor {
                        tenant_id: c.actor_tenant_id.as_deref(),
                        principal_id: &c.actor_principal_id,
                        role: &c.actor_role,
                    };
                    let completion = Completion {
                        tenant_id: &c.tenant_id,
                        recording_id: &c.recording_id,
                        totals: c.totals,
                        duration_s: c.duration_s,
                        last_parts: &c.last_parts,
                    };
                    match complete_in(&mut savepoint, completion, &actor, c.now_ms).await {
                        Ok(()) => {
                            savepoint.commit().await?;
                            true
                        }
                        Err(StoreError::Conflict(_)) => {
                            savepoint.rollback().await?;
                            false
                        }
                        Err(e) => return Err(e),
                    }
                }
            };
            recorded.push(ok);
        }
        tx.commit().await?;
        Ok(recorded)
    }

    /// The committed parts of a stream, in order.
    pub async fn list_parts(&self, recording_id: &CaseId, stream: StreamKind) -> Result<Vec<Part>> {
        let rows = sqlx::query(
            "SELECT start_index, item_count, object_key, byte_offset, byte_len FROM recording_parts \
             WHERE recording_id = $1 AND stream = $2 ORDER BY start_index",
        )
        .bind(recording_id.as_str())
        .bind(stream.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let offset: Option<i64> = row.try_get("byte_offset")?;
                let len: Option<i64> = row.try_get("byte_len")?;
                let bytes = match (offset, len) {
                    (None, None) => None,
                    (Some(offset), Some(len)) if offset >= 0 && len >= 0 => {
                        let offset = to_u64(offset);
                        Some(offset..offset.saturating_add(to_u64(len)))
                    }
                    _ => {
                        return Err(StoreError::Corrupt(
                            "a recording part's byte range is incomplete or negative".into(),
                        ));
                    }
                };
                Ok(Part {
                    start: to_u64(row.try_get("start_index")?),
                    count: to_u64(row.try_get("item_count")?),
                    object_key: row.try_get("object_key")?,
                    bytes,
                })
            })
            .collect()
    }

    /// A committed part's bytes (its range of a blob, or the whole blob).
    pub async fn read_part(&self, part: &Part) -> Result<bytes::Bytes> {
        match &part.bytes {
            None => self.blobs.get(&part.object_key).await,
            Some(range) => self.blobs.get_range(&part.object_key, range.clone()).await,
        }
    }

    /// Marks a receiving upload complete when its committed counts equal `totals`, queues its
    /// analysis and audits the upload, all atomically. Fails with [`StoreError::Conflict`] when the
    /// upload is not receiving or the counts differ.
    pub async fn complete_upload(
        &self,
        tenant_id: &TenantId,
        recording_id: &CaseId,
        totals: Counts,
        duration_s: f64,
        actor: &crate::audit::Actor<'_>,
        now_ms: i64,
    ) -> Result<()> {
        let completion = Completion {
            tenant_id,
            recording_id,
            totals,
            duration_s,
            last_parts: &[],
        };
        self.finish_upload(completion, actor, now_ms).await
    }

    /// As [`Store::complete_upload`], after recording `completion.last_parts` in the same
    /// transaction; a part whose start is not its stream's committed count fails the whole
    /// completion with [`StoreError::Conflict`] (nothing is recorded).
    pub async fn finish_upload(
        &self,
        completion: Completion<'_>,
        actor: &crate::audit::Actor<'_>,
        now_ms: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        complete_in(&mut tx, completion, actor, now_ms).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The worklist page: complete recordings of a tenant in worklist order (priority descending,
    /// then recording time descending, then id ascending), strictly after the key `after` (the
    /// last case of the previous page; `None` for the first page), at most `limit` rows.
    ///
    /// Keyset pagination: a page is defined by the last key seen, not by a count of rows skipped,
    /// so cases inserted (or analysed) while a clinician pages never shift the pages that follow
    /// and are never shown twice because of the insert. A case whose own key changes between two
    /// page reads (its analysis finished and raised its priority) moves to its new place: it is
    /// shown again if it moved below the cursor, or not on this pass if it moved above it.
    pub async fn list_cases(
        &self,
        tenant_id: &TenantId,
        filter: &CaseFilter,
        after: Option<&CaseKey>,
        limit: u32,
    ) -> Result<Vec<RecordingRow>> {
        let status_clause = match filter.status {
            None => "",
            Some(CaseStatus::Flagged) => " AND flagged = 1 AND review_count = 0",
            Some(CaseStatus::Unreviewed) => " AND review_count = 0",
            Some(CaseStatus::Reviewed) => " AND review_count > 0",
        };
        let (keyset_clause, limit_param) = match after {
            None => ("", "$7"),
            Some(_) => (
                " AND (priority < $7 OR (priority = $7 AND (started_at_ms < $8 \
                 OR (started_at_ms = $8 AND id > $9))))",
                "$10",
            ),
        };
        let sql = format!(
            "SELECT {RECORDING_COLUMNS} FROM recordings WHERE tenant_id = $1 AND state = $2{status_clause} \
             AND ($3 IS NULL OR site = $3) AND ($4 IS NULL OR subject_id = $4) \
             AND ($5 IS NULL OR started_at_ms >= $5) AND ($6 IS NULL OR started_at_ms < $6)\
             {keyset_clause} ORDER BY priority DESC, started_at_ms DESC, id LIMIT {limit_param}"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id.as_str())
            .bind(state::COMPLETE)
            .bind(filter.site.clone())
            .bind(filter.subject_id.clone())
            .bind(filter.from_ms)
            .bind(filter.until_ms);
        if let Some(key) = after {
            query = query
                .bind(key.priority)
                .bind(key.started_at_ms)
                .bind(key.id.clone());
        }
        let rows = query.bind(i64::from(limit)).fetch_all(&self.pool).await?;
        rows.iter().map(recording_from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(pcg_format: &str, ecg_mode: &str, ecg_format: &str) -> NewRecording {
        NewRecording {
            upload_id: "u".into(),
            device_serial: "d".into(),
            subject_id: "s".into(),
            site: "aortic".into(),
            position: "supine".into(),
            started_at_ms: 0,
            pcg_rate_hz: 4000,
            pcg_format: pcg_format.into(),
            ecg_mode: ecg_mode.into(),
            ecg_rate_hz: 0,
            ecg_format: ecg_format.into(),
            payload_sha256: None,
        }
    }

    #[test]
    fn formats_and_modes_round_trip_and_strangers_are_corrupt() {
        let widths: Vec<usize> = SampleFormat::ALL.iter().map(|f| f.width()).collect();
        assert_eq!(widths, [2, 4]);
        for &f in SampleFormat::ALL {
            for &mode in EcgMode::ALL {
                let m = meta(f.as_str(), mode.as_str(), f.as_str());
                assert_eq!(m.pcg_sample_format().expect("pcg"), f);
                assert_eq!(m.ecg_sample_format().expect("ecg"), Some(f));
                assert_eq!(m.ecg().expect("mode"), mode);
            }
        }
        let none = meta("s16le", "none", "");
        assert_eq!(none.ecg_sample_format().expect("no ecg"), None);
        let bad = meta("s24le", "maybe", "f64le");
        assert!(matches!(
            bad.pcg_sample_format(),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            bad.ecg_sample_format(),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(bad.ecg(), Err(StoreError::Corrupt(_))));
    }
}
