//! A stored recording's streams read one part at a time: a part is what one flush of its upload
//! wrote (`flush_bytes`, 256 KiB by default), one blob. Whoever sends a recording out (`GetAudio`,
//! the console's WAV, the FHIR and WFDB exports) reads a part, converts and sends it, then
//! reads the next, so it holds one part, never the recording.
//!
//! This module reads only what it is given a row for: the caller has checked the tenant and
//! written the audit event ([`crate::cases::open_audio`]). It never holds more than one part's
//! bytes.

use auscult_store::CaseId;
use auscult_store::recordings::{Part, RecordingRow, StreamKind};
use bytes::Bytes;

use crate::error::{Result, ServerError};
use crate::samples::{self, Pcm16, WAV_HEADER_BYTES};
use crate::state::AppState;

/// The width of one stored value of `stream`: a PCG or ECG sample in its stored format, an
/// R-peak time (f64).
pub fn value_width(row: &RecordingRow, stream: StreamKind) -> Result<usize> {
    Ok(match stream {
        StreamKind::Pcg => row.meta.pcg_sample_format()?.width(),
        StreamKind::Ecg => row
            .meta
            .ecg_sample_format()?
            .ok_or(ServerError::Corrupt("ECG samples without a sample format"))?
            .width(),
        StreamKind::RPeaks => 8,
    })
}

/// The committed parts of one stream of a recording, in order, read one at a time.
#[derive(Debug, Clone)]
pub struct StreamParts {
    parts: Vec<Part>,
    next: usize,
    width: usize,
}

impl StreamParts {
    /// Lists the parts of `stream` (reads no blob).
    pub async fn list(
        state: &AppState,
        row: &RecordingRow,
        stream: StreamKind,
    ) -> Result<StreamParts> {
        let width = value_width(row, stream)?;
        let parts = state
            .store
            .list_parts(&CaseId::new(row.id.as_str()), stream)
            .await?;
        Ok(StreamParts {
            parts,
            next: 0,
            width,
        })
    }

    /// The width of one value, bytes.
    pub fn width(&self) -> usize {
        self.width
    }

    /// How many values the parts hold together.
    pub fn values(&self) -> u64 {
        self.parts.iter().map(|p| p.count).sum()
    }

    /// The next part's bytes, or `None` after the last.
    pub async fn next(&mut self, state: &AppState) -> Result<Option<Bytes>> {
        let Some(part) = self.skip() else {
            return Ok(None);
        };
        read(state, &part, self.width).await.map(Some)
    }

    /// Moves past the next part without reading it; returns it.
    fn skip(&mut self) -> Option<Part> {
        let part = self.parts.get(self.next).cloned()?;
        self.next += 1;
        Some(part)
    }

    /// The largest finite magnitude of the samples of every part (reading each once and keeping
    /// none); 0 for s16 samples, without reading any.
    async fn peak(&self, state: &AppState) -> Result<f32> {
        let mut peak = 0.0f32;
        if self.width == 4 {
            for part in &self.parts {
                peak = peak.max(samples::peak(&read(state, part, self.width).await?, 4));
            }
        }
        Ok(peak)
    }

    /// Every remaining part decoded to `f32` samples, appended to one vector: for the engine and
    /// the exports that need the whole signal (the raw bytes are never held whole).
    pub async fn decode_all(mut self, state: &AppState) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(usize::try_from(self.values()).unwrap_or(0));
        while let Some(bytes) = self.next(state).await? {
            samples::decode_into(&bytes, self.width, &mut out);
        }
        Ok(out)
    }
}

/// One part's blob, checked to hold exactly the values its row counts (anything else is not what
/// the ingest wrote, and would shift every later byte of a file whose header is already sent).
async fn read(state: &AppState, part: &Part, width: usize) -> Result<Bytes> {
    let bytes = state.store.read_part(part).await?;
    if Some(bytes.len() as u64) != part.count.checked_mul(width as u64) {
        return Err(ServerError::Corrupt(
            "a stored part does not hold the values its row counts",
        ));
    }
    Ok(bytes)
}

/// A PCG or ECG stream as a mono 16-bit WAV file, produced one part at a time: the header is
/// written from the parts' counts, then each part converted on its own ([`Pcm16`]). f32 samples
/// are scaled by the recording's peak, found first by a pass that reads every part once and keeps
/// nothing. The bytes are those of [`samples::wav_s16`] over the whole stream.
///
/// A byte range of the file ([`WavFile::only`]) reads only the parts it overlaps (and, for f32,
/// the peak pass).
#[derive(Debug)]
pub struct WavFile {
    header: Option<[u8; 44]>,
    parts: StreamParts,
    pcm: Option<Pcm16>,
    len: u64,
    /// The file offset of the next piece.
    at: u64,
    /// The bytes wanted, inclusive.
    first: u64,
    last: u64,
}

impl WavFile {
    /// The WAV file of `stream` (PCG or raw ECG) of `row`, ready to read: lists its parts and
    /// checks that a WAV file can hold them (reads no blob).
    pub async fn open(state: &AppState, row: &RecordingRow, stream: StreamKind) -> Result<WavFile> {
        let rate_hz = match stream {
            StreamKind::Pcg => row.meta.pcg_rate_hz,
            StreamKind::Ecg => row.meta.ecg_rate_hz,
            StreamKind::RPeaks => {
                return Err(ServerError::Internal("R peaks are not a WAV file".into()));
            }
        };
        let parts = StreamParts::list(state, row, stream).await?;
        let samples = parts.values();
        let header = samples::wav_header(samples, rate_hz)?;
        let len = WAV_HEADER_BYTES + 2 * samples;
        Ok(WavFile {
            header: Some(header),
            parts,
            pcm: None,
            len,
            at: 0,
            first: 0,
            last: len.saturating_sub(1),
        })
    }

    /// The whole file's length, bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty (never: it has a header).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Only bytes `first..=last` of the file (within it: see [`WavFile::len`]).
    #[must_use]
    pub fn only(mut self, first: u64, last: u64) -> WavFile {
        self.first = first;
        self.last = last.min(self.len.saturating_sub(1));
        self
    }

    /// The next piece of the wanted bytes (the header, then one part's samples), or `None` at
    /// the end.
    pub async fn next(&mut self, state: &AppState) -> Result<Option<Vec<u8>>> {
        if let Some(header) = self.header.take() {
            self.at = WAV_HEADER_BYTES;
            if let Some(piece) = self.clip(0, &header) {
                return Ok(Some(piece.to_vec()));
            }
        }
        while self.at <= self.last {
            let Some(part) = self.parts.skip() else {
                return Ok(None);
            };
            let start = self.at;
            self.at += 2 * part.count;
            if self.at <= self.first {
                continue;
            }
            let pcm = match self.pcm {
                Some(pcm) => pcm,
                None => *self
                    .pcm
                    .insert(Pcm16::new(self.parts.width, self.parts.peak(state).await?)),
            };
            let bytes = read(state, &part, self.parts.width).await?;
            let mut converted = Vec::with_capacity(2 * bytes.len() / self.parts.width);
            pcm.convert(&bytes, &mut converted);
            drop(bytes);
            if let Some(piece) = self.clip(start, &converted) {
                if piece.len() == converted.len() {
                    return Ok(Some(converted));
                }
                return Ok(Some(piece.to_vec()));
            }
        }
        Ok(None)
    }

    /// The wanted bytes of `piece`, which starts at file offset `start`.
    fn clip<'a>(&self, start: u64, piece: &'a [u8]) -> Option<&'a [u8]> {
        let end = start + piece.len() as u64;
        let from = self.first.max(start);
        let to = (self.last + 1).min(end);
        // Both ends lie within `piece`, which is in memory.
        #[allow(clippy::cast_possible_truncation)]
        (from < to).then(|| &piece[(from - start) as usize..(to - start) as usize])
    }
}
