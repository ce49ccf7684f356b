//! A bare tonic `IngestService` that counts and discards what it receives: the baseline of the
//! load run's bulk-throughput comparison (the same client code against a server that does no
//! validation, storage or hashing shows what gRPC, HTTP/2 and the simulator cost by themselves).
//!
//! It answers exactly enough of the protocol for the simulator to finish: an acknowledgement per
//! chunk carrying the running per-stream counts, and at the finish a `COMPLETE` answer whose
//! committed counts are what it counted. It checks no token, keeps no bytes and must never be used
//! as a server for real recordings (nothing it "commits" is stored anywhere).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use auscult_proto::v1::ingest_service_server::{IngestService, IngestServiceServer};
use auscult_proto::v1::{
    CommittedCounts, GetUploadStatusRequest, SampleFormat, SignalStream, UploadAck, UploadRequest,
    UploadResponse, UploadState, UploadStatus, upload_request,
};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

use crate::upload::MAX_MESSAGE_BYTES;

/// What the sink has seen since it started.
#[derive(Debug, Default)]
pub struct SinkCounters {
    /// Chunks received.
    pub chunks: AtomicU64,
    /// Sample payload bytes received (R peaks count 8 bytes each).
    pub bytes: AtomicU64,
    /// Uploads that ended with a finish.
    pub uploads: AtomicU64,
}

/// The discarding service.
#[derive(Debug, Clone, Default)]
pub struct DiscardIngest {
    counters: Arc<SinkCounters>,
}

fn width(format: i32) -> u64 {
    if format == SampleFormat::F32le as i32 {
        4
    } else {
        2
    }
}

/// Per-stream widths from the metadata and running counts.
struct Tally {
    pcg_width: u64,
    ecg_width: u64,
    counts: CommittedCounts,
}

impl Tally {
    fn add(&mut self, counters: &SinkCounters, request: UploadRequest) -> Result<bool, Status> {
        match request.kind {
            Some(upload_request::Kind::Metadata(m)) => {
                self.pcg_width = width(m.pcg_format);
                self.ecg_width = width(m.ecg_format);
                Ok(false)
            }
            Some(upload_request::Kind::Chunk(c)) => {
                let bytes = c.samples.len() as u64 + 8 * c.r_peaks_s.len() as u64;
                match SignalStream::try_from(c.stream) {
                    Ok(SignalStream::Pcg) => {
                        self.counts.pcg_samples += c.samples.len() as u64 / self.pcg_width;
                    }
                    Ok(SignalStream::Ecg) => {
                        self.counts.ecg_samples += c.samples.len() as u64 / self.ecg_width;
                    }
                    Ok(SignalStream::RPeaks) => self.counts.r_peaks += c.r_peaks_s.len() as u64,
                    _ => return Err(Status::invalid_argument("chunk stream must be specified")),
                }
                counters.chunks.fetch_add(1, Ordering::Relaxed);
                counters.bytes.fetch_add(bytes, Ordering::Relaxed);
                Ok(false)
            }
            Some(upload_request::Kind::Finish(_)) => {
                counters.uploads.fetch_add(1, Ordering::Relaxed);
                Ok(true)
            }
            None => Err(Status::invalid_argument("empty upload request")),
        }
    }

    fn new() -> Self {
        Self {
            pcg_width: 2,
            ecg_width: 4,
            counts: CommittedCounts::default(),
        }
    }

    fn ack(&self, done: bool) -> UploadAck {
        UploadAck {
            received: Some(self.counts),
            committed: Some(self.counts),
            state: if done {
                UploadState::Complete as i32
            } else {
                UploadState::Receiving as i32
            },
            case_id: if done {
                "discarded".into()
            } else {
                String::new()
            },
            duplicate: false,
            instruction: None,
        }
    }
}

#[tonic::async_trait]
impl IngestService for DiscardIngest {
    async fn upload(
        &self,
        request: Request<Streaming<UploadRequest>>,
    ) -> Result<Response<UploadResponse>, Status> {
        let mut inbound = request.into_inner();
        let mut tally = Tally::new();
        let mut done = false;
        while let Some(message) = inbound.message().await? {
            if tally.add(&self.counters, message)? {
                done = true;
                break;
            }
        }
        Ok(Response::new(UploadResponse {
            upload_id: String::new(),
            state: if done {
                UploadState::Complete as i32
            } else {
                UploadState::Receiving as i32
            },
            committed: Some(tally.counts),
            case_id: if done {
                "discarded".into()
            } else {
                String::new()
            },
            duplicate: false,
        }))
    }

    type UploadWithAcksStream = ReceiverStream<Result<UploadAck, Status>>;

    async fn upload_with_acks(
        &self,
        request: Request<Streaming<UploadRequest>>,
    ) -> Result<Response<Self::UploadWithAcksStream>, Status> {
        let mut inbound = request.into_inner();
        let counters = Arc::clone(&self.counters);
        let (tx, rx) = mpsc::channel(32);
        tokio::spawn(async move {
            let mut tally = Tally::new();
            loop {
                let message = match inbound.message().await {
                    Ok(Some(m)) => m,
                    Ok(None) => return,
                    Err(status) => {
                        let _ = tx.send(Err(status)).await;
                        return;
                    }
                };
                let is_metadata = matches!(message.kind, Some(upload_request::Kind::Metadata(_)));
                match tally.add(&counters, message) {
                    Ok(done) => {
                        if is_metadata {
                            continue;
                        }
                        if tx.send(Ok(tally.ack(done))).await.is_err() || done {
                            return;
                        }
                    }
                    Err(status) => {
                        let _ = tx.send(Err(status)).await;
                        return;
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn get_upload_status(
        &self,
        request: Request<GetUploadStatusRequest>,
    ) -> Result<Response<UploadStatus>, Status> {
        Ok(Response::new(UploadStatus {
            upload_id: request.into_inner().upload_id,
            state: UploadState::Unknown as i32,
            committed: Some(CommittedCounts::default()),
            case_id: String::new(),
        }))
    }
}

/// A running sink.
#[derive(Debug)]
pub struct RunningSink {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it has counted.
    pub counters: Arc<SinkCounters>,
    stop: oneshot::Sender<()>,
    serve: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl RunningSink {
    /// Stops serving and waits for the server task.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.serve.await;
    }
}

/// Serves the discarding service on `addr` (e.g. `127.0.0.1:0`) with the simulator's message
/// size limit, on the current runtime.
///
/// # Errors
/// When the address cannot be bound.
pub async fn start_sink(addr: SocketAddr) -> std::io::Result<RunningSink> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let service = DiscardIngest::default();
    let counters = Arc::clone(&service.counters);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = IngestServiceServer::new(service)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let serve = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(server)
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
                let _ = stopped.await;
            })
            .await
    });
    Ok(RunningSink {
        addr,
        counters,
        stop,
        serve,
    })
}
