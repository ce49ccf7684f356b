//! `GET /cases/{id}/audio?variant=original|cleaned`: the case's PCG as a 16-bit WAV file for the
//! page's `<audio>` element, whole or by byte range (browsers seek with `Range`).
//!
//! The original is streamed from the blob store one stored part at a time, reading only the
//! parts the range overlaps ([`crate::parts::WavFile`]); its length is known from the committed
//! counts before any sample is read.
//!
//! `cleaned` is the engine's heartbeat-locked noise removal (`auscult_dsp::Denoiser`) over the
//! stored cycles, run here on the stored samples; the server does no signal processing of its
//! own. Every request is audited as `case.audio` ([`crate::cases::open_audio`]).

use std::sync::Arc;

use auscult_dsp::{Denoiser, Hz, Signal};
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use auscult_store::recordings::StreamKind;

use super::session::require;
use super::{Web, WebError, WebResult};
use crate::cases;
use crate::parts::WavFile;
use crate::samples;
use crate::state::AppState;

/// Which audio.
#[derive(Debug, Default, Deserialize)]
pub struct AudioQuery {
    variant: Option<String>,
}

/// `GET /cases/{id}/audio`.
pub async fn case_audio(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<AudioQuery>, QueryRejection>,
) -> WebResult<Response> {
    let signed = require(&web, &headers).await?;
    let Query(query) = query.map_err(|_| WebError::BadRequest)?;
    let cleaned = match query.variant.as_deref() {
        None | Some("original") => false,
        Some("cleaned") => true,
        Some(_) => return Err(WebError::BadRequest),
    };
    if cleaned {
        let case = cases::get(&web.app, &signed.caller, &id).await?;
        let analysis = case.analysis.ok_or(WebError::NotFound)?;
        let row = cases::open_audio(&web.app, &signed.caller, &case.row.id).await?;
        // The denoiser works on the whole signal: this variant is made in memory.
        let (pcg, rate) = cases::pcg_samples(&web.app, &row).await?;
        let wav = tokio::task::spawn_blocking(move || clean(&pcg, rate, &analysis))
            .await
            .map_err(|_| WebError::Unavailable)??;
        Ok(ranged(&headers, wav.len() as u64, |first, last| {
            let whole = first == 0 && last + 1 == wav.len() as u64;
            let range = usize::try_from(first).unwrap_or(usize::MAX)
                ..=usize::try_from(last).unwrap_or(usize::MAX);
            if whole {
                Body::from(wav)
            } else {
                Body::from(wav.get(range).map(<[u8]>::to_vec).unwrap_or_default())
            }
        }))
    } else {
        let row = cases::open_audio(&web.app, &signed.caller, &id).await?;
        let wav = WavFile::open(&web.app, &row, StreamKind::Pcg).await?;
        let app = Arc::clone(&web.app);
        Ok(ranged(&headers, wav.len(), move |first, last| {
            streamed(app, wav.only(first, last))
        }))
    }
}

/// The bytes of `wav` as a response body, read one stored part at a time while it is sent.
/// A failure midway (a blob gone) cuts the response short: the browser sees an incomplete file,
/// never a wrong one.
fn streamed(app: Arc<AppState>, wav: WavFile) -> Body {
    let pieces = futures::stream::try_unfold((app, wav), |(app, mut wav)| async move {
        let piece = wav.next(&app).await.map_err(|e| {
            tracing::warn!(error = %e, "WAV download cut short");
            std::io::Error::other("the recording could not be read")
        })?;
        Ok::<_, std::io::Error>(piece.map(|p| (p, (app, wav))))
    });
    Body::from_stream(pieces)
}

/// The engine's cleaned PCG as a WAV file.
fn clean(
    pcg: &[f32],
    rate: u32,
    analysis: &auscult_store::analysis::StoredAnalysis,
) -> WebResult<Vec<u8>> {
    let cycles: Vec<auscult_dsp::Cycle> = analysis.cycles.iter().map(Into::into).collect();
    let denoised = Denoiser::default()
        .denoise(
            Signal {
                samples: pcg,
                rate: Hz(f64::from(rate)),
            },
            &cycles,
        )
        .map_err(|_| WebError::NotFound)?;
    let bytes: Vec<u8> = denoised
        .samples
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    Ok(samples::wav_s16(&bytes, 4, rate)?)
}

/// The first byte range of a `Range: bytes=...` header, if it is one this file can satisfy
/// (`Some(Err(()))` for one it cannot).
fn byte_range(headers: &HeaderMap, len: u64) -> Option<Result<(u64, u64), ()>> {
    let value = headers.get(header::RANGE)?.to_str().ok()?;
    let spec = value.strip_prefix("bytes=")?.split(',').next()?.trim();
    let (start, end) = spec.split_once('-')?;
    let parsed = match (start.trim(), end.trim()) {
        ("", "") => return Some(Err(())),
        ("", suffix) => suffix
            .parse::<u64>()
            .ok()
            .filter(|&n| n > 0)
            .map(|n| (len.saturating_sub(n), len.saturating_sub(1))),
        (start, "") => start
            .parse::<u64>()
            .ok()
            .map(|s| (s, len.saturating_sub(1))),
        (start, end) => match (start.parse::<u64>(), end.parse::<u64>()) {
            (Ok(s), Ok(e)) if s <= e => Some((s, e.min(len.saturating_sub(1)))),
            _ => None,
        },
    };
    Some(match parsed {
        Some((s, e)) if s < len && s <= e => Ok((s, e)),
        _ => Err(()),
    })
}

/// A WAV file of `len` bytes, or the part of it the request's `Range` asks for: `body` gives
/// bytes `first..=last` of the file.
fn ranged(headers: &HeaderMap, len: u64, body: impl FnOnce(u64, u64) -> Body) -> Response {
    let common = [
        (header::CONTENT_TYPE, "audio/wav".to_owned()),
        (header::ACCEPT_RANGES, "bytes".to_owned()),
    ];
    match byte_range(headers, len) {
        None => (
            common,
            [(header::CONTENT_LENGTH, len.to_string())],
            body(0, len.saturating_sub(1)),
        )
            .into_response(),
        Some(Ok((start, end))) => (
            StatusCode::PARTIAL_CONTENT,
            common,
            [
                (header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}")),
                (header::CONTENT_LENGTH, (end - start + 1).to_string()),
            ],
            body(start, end),
        )
            .into_response(),
        Some(Err(())) => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            [(header::CONTENT_RANGE, format!("bytes */{len}"))],
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn range(v: &'static str, len: u64) -> Option<Result<(u64, u64), ()>> {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_static(v));
        byte_range(&h, len)
    }

    #[test]
    fn ranges_parse_and_bad_ones_are_refused() {
        assert_eq!(range("bytes=0-", 10), Some(Ok((0, 9))));
        assert_eq!(range("bytes=2-4", 10), Some(Ok((2, 4))));
        assert_eq!(range("bytes=5-100", 10), Some(Ok((5, 9))));
        assert_eq!(range("bytes=-3", 10), Some(Ok((7, 9))));
        assert_eq!(range("bytes=10-", 10), Some(Err(())));
        assert_eq!(range("bytes=4-2", 10), Some(Err(())));
        assert_eq!(range("bytes=-", 10), Some(Err(())));
        assert_eq!(range("bytes=x-1", 10), Some(Err(())));
        assert_eq!(range("bytes=0-", 0), Some(Err(())));
        assert_eq!(range("items=0-1", 10), None);
        assert_eq!(byte_range(&HeaderMap::new(), 10), None);
    }
}
