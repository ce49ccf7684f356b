//! Test harness: an in-memory implementation of the `IngestService` protocol as `ingest.proto`
//! specifies it (strict offsets, totals and payload hash checked at finish, idempotent retries,
//! bearer auth), served on 127.0.0.1:0; and a TCP proxy that cuts connections to inject real
//! network failures between the simulator and any server.
//!
//! The harness lets the simulator's resumption be tested deterministically while the real server
//! is developed; it stores nothing on disk and shuts down with the test's runtime.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use auscult_proto::v1::ingest_service_server::{IngestService, IngestServiceServer};
use auscult_proto::v1::{
    CommittedCounts, GetUploadStatusRequest, SignalStream, UploadAck, UploadMetadata,
    UploadRequest, UploadResponse, UploadState, UploadStatus, upload_request,
};
use futures::Stream;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

/// One upload as the harness holds it.
#[derive(Debug, Clone, Default)]
pub struct StoredUpload {
    pub metadata: Option<UploadMetadata>,
    pub pcg: Vec<u8>,
    pub ecg: Vec<u8>,
    pub r_peaks: Vec<f64>,
    pub complete: bool,
    pub case_id: String,
    /// How many streams carried data for this upload.
    pub streams: usize,
}

impl StoredUpload {
    fn counts(&self) -> CommittedCounts {
        let (pw, ew) = self.widths();
        CommittedCounts {
            pcg_samples: (self.pcg.len() / pw) as u64,
            ecg_samples: (self.ecg.len() / ew) as u64,
            r_peaks: self.r_peaks.len() as u64,
        }
    }
    fn widths(&self) -> (usize, usize) {
        let width = |f: i32| {
            if f == auscult_proto::v1::SampleFormat::F32le as i32 {
                4
            } else {
                2
            }
        };
        self.metadata
            .as_ref()
            .map_or((2, 4), |m| (width(m.pcg_format), width(m.ecg_format)))
    }
}

/// The in-memory ingest service.
#[derive(Debug, Default)]
pub struct ReferenceIngest {
    pub token: String,
    pub uploads: Mutex<HashMap<String, StoredUpload>>,
    pub cases: AtomicUsize,
    pub chunks: AtomicU64,
    /// Every call of any RPC, refused ones included (a retry is a second call).
    pub calls: AtomicUsize,
}

impl ReferenceIngest {
    fn check_auth<T>(&self, req: &Request<T>) -> Result<(), Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let expected = format!("Bearer {}", self.token);
        match req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
        {
            Some(v) if v == expected => Ok(()),
            _ => Err(Status::unauthenticated("missing or bad bearer token")),
        }
    }

    pub fn get(&self, id: &str) -> Option<StoredUpload> {
        self.uploads.lock().ok()?.get(id).cloned()
    }

    /// Apply one request; returns the counts and, when finished, the case id.
    fn apply(
        &self,
        id: &mut Option<String>,
        req: UploadRequest,
    ) -> Result<(CommittedCounts, Option<(String, bool)>), Status> {
        let mut uploads = self
            .uploads
            .lock()
            .map_err(|_| Status::internal("poisoned"))?;
        match req.kind {
            Some(upload_request::Kind::Metadata(m)) => {
                if id.is_some() {
                    return Err(Status::invalid_argument("metadata twice"));
                }
                if m.upload_id.is_empty() {
                    return Err(Status::invalid_argument("empty upload id"));
                }
                let entry = uploads.entry(m.upload_id.clone()).or_default();
                if let Some(old) = &entry.metadata
                    && old.payload_sha256 != m.payload_sha256
                {
                    return Err(Status::already_exists("upload id reused for other data"));
                }
                entry.metadata = Some(m.clone());
                entry.streams += 1;
                *id = Some(m.upload_id);
                let done = entry.complete.then(|| (entry.case_id.clone(), true));
                Ok((entry.counts(), done))
            }
            Some(upload_request::Kind::Chunk(c)) => {
                let key = id
                    .as_ref()
                    .ok_or_else(|| Status::invalid_argument("chunk before metadata"))?;
                let entry = uploads
                    .get_mut(key)
                    .ok_or_else(|| Status::internal("lost upload"))?;
                if entry.complete {
                    return Err(Status::failed_precondition("already complete"));
                }
                let counts = entry.counts();
                let (pw, ew) = entry.widths();
                match SignalStream::try_from(c.stream) {
                    Ok(SignalStream::Pcg) => {
                        if c.offset != counts.pcg_samples || c.samples.len() % pw != 0 {
                            return Err(Status::failed_precondition(format!(
                                "pcg offset {} but committed {}",
                                c.offset, counts.pcg_samples
                            )));
                        }
                        entry.pcg.extend(&c.samples);
                    }
                    Ok(SignalStream::Ecg) => {
                        if c.offset != counts.ecg_samples || c.samples.len() % ew != 0 {
                            return Err(Status::failed_precondition("ecg offset"));
                        }
                        entry.ecg.extend(&c.samples);
                    }
                    Ok(SignalStream::RPeaks) => {
                        if c.offset != counts.r_peaks {
                            return Err(Status::failed_precondition("r-peak offset"));
                        }
                        let last = entry.r_peaks.last().copied().unwrap_or(f64::NEG_INFINITY);
                        let mut prev = last;
                        for p in &c.r_peaks_s {
                            if *p <= prev {
                                return Err(Status::invalid_argument("r peaks not increasing"));
                            }
                            prev = *p;
                        }
                        entry.r_peaks.extend(&c.r_peaks_s);
                    }
                    _ => return Err(Status::invalid_argument("unknown stream")),
                }
                self.chunks.fetch_add(1, Ordering::Relaxed);
                Ok((entry.counts(), None))
            }
            Some(upload_request::Kind::Finish(f)) => {
                let key = id
                    .as_ref()
                    .ok_or_else(|| Status::invalid_argument("finish before metadata"))?;
                let entry = uploads
                    .get_mut(key)
                    .ok_or_else(|| Status::internal("lost upload"))?;
                if entry.complete {
                    return Ok((entry.counts(), Some((entry.case_id.clone(), true))));
                }
                if f.totals.as_ref() != Some(&entry.counts()) {
                    return Err(Status::invalid_argument(
                        "totals differ from what was received",
                    ));
                }
                let mut h = Sha256::new();
                h.update(&entry.pcg);
                h.update(&entry.ecg);
                for p in &entry.r_peaks {
                    h.update(p.to_le_bytes());
                }
                let want = entry
                    .metadata
                    .as_ref()
                    .map(|m| m.payload_sha256.clone())
                    .unwrap_or_default();
                if !want.is_empty() && want != h.finalize().to_vec() {
                    return Err(Status::data_loss("payload hash mismatch"));
                }
                entry.complete = true;
                entry.case_id = format!("case-{}", self.cases.fetch_add(1, Ordering::Relaxed) + 1);
                Ok((entry.counts(), Some((entry.case_id.clone(), false))))
            }
            None => Err(Status::invalid_argument("empty request")),
        }
    }
}

type AckStream = Pin<Box<dyn Stream<Item = Result<UploadAck, Status>> + Send>>;

/// The service handle given to tonic.
#[derive(Debug, Clone)]
pub struct Harness(pub Arc<ReferenceIngest>);

impl std::ops::Deref for Harness {
    type Target = ReferenceIngest;
    fn deref(&self) -> &ReferenceIngest {
        &self.0
    }
}

#[tonic::async_trait]
impl IngestService for Harness {
    async fn upload(
        &self,
        request: Request<Streaming<UploadRequest>>,
    ) -> Result<Response<UploadResponse>, Status> {
        self.check_auth(&request)?;
        let mut stream = request.into_inner();
        let mut id = None;
        let mut last = CommittedCounts::default();
        while let Some(msg) = stream.next().await {
            let Ok(msg) = msg else { break };
            let (counts, done) = self.apply(&mut id, msg)?;
            last = counts;
            if let Some((case_id, duplicate)) = done {
                return Ok(Response::new(UploadResponse {
                    upload_id: id.unwrap_or_default(),
                    state: UploadState::Complete as i32,
                    committed: Some(last),
                    case_id,
                    duplicate,
                }));
            }
        }
        Ok(Response::new(UploadResponse {
            upload_id: id.unwrap_or_default(),
            state: UploadState::Receiving as i32,
            committed: Some(last),
            case_id: String::new(),
            duplicate: false,
        }))
    }

    type UploadWithAcksStream = AckStream;

    async fn upload_with_acks(
        &self,
        request: Request<Streaming<UploadRequest>>,
    ) -> Result<Response<Self::UploadWithAcksStream>, Status> {
        self.check_auth(&request)?;
        let mut stream = request.into_inner();
        let me = Arc::clone(&self.0);
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            let mut id = None;
            while let Some(Ok(msg)) = stream.next().await {
                let is_chunk = matches!(msg.kind, Some(upload_request::Kind::Chunk(_)));
                let ack = match me.apply(&mut id, msg) {
                    Ok((counts, Some((case_id, duplicate)))) => Ok(UploadAck {
                        received: Some(counts),
                        committed: Some(counts),
                        state: UploadState::Complete as i32,
                        case_id,
                        duplicate,
                        instruction: None,
                    }),
                    Ok((counts, None)) if is_chunk => Ok(UploadAck {
                        received: Some(counts),
                        committed: Some(counts),
                        state: UploadState::Receiving as i32,
                        case_id: String::new(),
                        duplicate: false,
                        instruction: None,
                    }),
                    Ok(_) => continue,
                    Err(status) => Err(status),
                };
                let failed = ack.is_err();
                if tx.send(ack).await.is_err() || failed {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn get_upload_status(
        &self,
        request: Request<GetUploadStatusRequest>,
    ) -> Result<Response<UploadStatus>, Status> {
        self.check_auth(&request)?;
        let id = request.into_inner().upload_id;
        let uploads = self
            .uploads
            .lock()
            .map_err(|_| Status::internal("poisoned"))?;
        let status = match uploads.get(&id) {
            None => UploadStatus {
                upload_id: id,
                state: UploadState::Unknown as i32,
                committed: Some(CommittedCounts::default()),
                case_id: String::new(),
            },
            Some(u) => UploadStatus {
                upload_id: id,
                state: if u.complete {
                    UploadState::Complete
                } else {
                    UploadState::Receiving
                } as i32,
                committed: Some(u.counts()),
                case_id: u.case_id.clone(),
            },
        };
        Ok(Response::new(status))
    }
}

/// Start the harness on 127.0.0.1:0; returns its address and state.
pub async fn start_reference(token: &str) -> (SocketAddr, Arc<ReferenceIngest>) {
    let state = Arc::new(ReferenceIngest {
        token: token.to_owned(),
        ..ReferenceIngest::default()
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let service = IngestServiceServer::new(Harness(Arc::clone(&state)));
    tokio::spawn(async move {
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let _ = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming)
            .await;
    });
    (addr, state)
}

/// A TCP proxy to `upstream` that cuts each of the first `cuts` connections once `budget` bytes
/// have gone from the client to the server through it.
pub async fn start_cutting_proxy(
    upstream: SocketAddr,
    cuts: usize,
    budget: u64,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let cut_count = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&cut_count);
    tokio::spawn(async move {
        let mut connection = 0usize;
        while let Ok((client, _)) = listener.accept().await {
            connection += 1;
            let cut = (connection <= cuts).then_some(budget);
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                pipe(client, server, cut, counter).await;
            });
        }
    });
    (addr, cut_count)
}

async fn pipe(client: TcpStream, server: TcpStream, cut: Option<u64>, cuts: Arc<AtomicUsize>) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async {
        let mut buf = vec![0u8; 16 * 1024];
        let mut sent = 0u64;
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if let Some(limit) = cut
                && sent + n as u64 > limit
            {
                cuts.fetch_add(1, Ordering::Relaxed);
                return;
            }
            sent += n as u64;
            if sw.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    let down = async {
        let _ = tokio::io::copy(&mut sr, &mut cw).await;
    };
    // Whichever side ends first ends the connection: both halves are dropped.
    tokio::select! {
        () = up => {},
        () = down => {},
    }
}
