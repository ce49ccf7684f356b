//! Server-streaming replies produced while they are sent: a task makes the messages one at a
//! time into a small queue ([`OUTBOUND_QUEUE`]), so a reply holds a few messages and whatever
//! its producer holds (one part of a recording, one resident of a bundle), never the whole
//! reply; and the cutting of bytes or values into messages of a fixed size ([`Batches`]).
//!
//! A stream opened with a token ends with UNAUTHENTICATED as soon as the token stops
//! authenticating ([`TokenWatch`]), even while its producer waits on storage; nothing the
//! producer makes after that is sent.

use std::future::Future;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::auth::TokenWatch;
use crate::error::{Result, ServerError};

/// Messages made ahead of the client.
pub const OUTBOUND_QUEUE: usize = 4;

/// Where a producer puts its messages.
#[derive(Debug)]
pub struct Outbox<T> {
    tx: mpsc::Sender<std::result::Result<T, Status>>,
}

impl<T> Outbox<T> {
    /// Queues `message`, waiting while the queue is full; fails once the client has gone, so the
    /// producer stops.
    pub async fn send(&self, message: T) -> Result<()> {
        self.tx
            .send(Ok(message))
            .await
            .map_err(|_| ServerError::Unavailable("the client went away"))
    }
}

/// The reply stream of `produce`, run on its own task: its messages, then its error if it fails.
/// With a `token` (gRPC calls), the stream ends with UNAUTHENTICATED when the token does.
pub fn spawn<T, F, P>(
    token: Option<TokenWatch>,
    produce: P,
) -> ReceiverStream<std::result::Result<T, Status>>
where
    T: Send + 'static,
    P: FnOnce(Outbox<T>) -> F,
    F: Future<Output = Result<()>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
    let ends = tx.clone();
    let producing = produce(Outbox { tx });
    tokio::spawn(async move {
        let end = match token {
            Some(mut token) => tokio::select! {
                biased;
                ended = token.ended() => Err(ended),
                done = producing => done,
            },
            None => producing.await,
        };
        // Nobody is told (or logged about) a stream whose client went away.
        if let Err(e) = end
            && !ends.is_closed()
        {
            let _ = ends.send(Err(Status::from(e))).await;
        }
    });
    ReceiverStream::new(rx)
}

/// Cuts values that arrive in pieces of any size into batches of `size` (the last one shorter),
/// each with the index of its first value: the same batches as cutting all the values at once,
/// holding at most one batch between pieces.
#[derive(Debug)]
pub struct Batches<T> {
    size: usize,
    carry: Vec<T>,
    made: u64,
}

impl<T: Copy> Batches<T> {
    /// Batches of `size` values (at least 1).
    pub fn new(size: usize) -> Batches<T> {
        Batches {
            size: size.max(1),
            carry: Vec::new(),
            made: 0,
        }
    }

    /// The next full batch of the values kept and the front of `values` (consumed), or `None`
    /// when fewer than a batch are left: those are kept for the next piece.
    pub fn next_full(&mut self, values: &mut &[T]) -> Option<(u64, Vec<T>)> {
        let wanted = self.size - self.carry.len();
        if values.len() < wanted {
            self.carry.extend_from_slice(values);
            *values = &[];
            return None;
        }
        let (head, rest) = values.split_at(wanted);
        let mut batch = std::mem::take(&mut self.carry);
        batch.extend_from_slice(head);
        *values = rest;
        let first = self.made;
        self.made += self.size as u64;
        Some((first, batch))
    }

    /// How many values came in so far.
    pub fn values(&self) -> u64 {
        self.made + self.carry.len() as u64
    }

    /// The values kept, as the last batch (`None` when there are none).
    pub fn rest(self) -> Option<(u64, Vec<T>)> {
        (!self.carry.is_empty()).then_some((self.made, self.carry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn batches_are_the_whole_cut_at_once(
            values in proptest::collection::vec(any::<u8>(), 0..2000),
            cuts in proptest::collection::vec(0usize..2000, 0..12),
            size in 1usize..300,
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(values.len())).collect();
            cuts.push(0);
            cuts.push(values.len());
            cuts.sort_unstable();
            let mut batches = Batches::new(size);
            let mut got = Vec::new();
            for piece in cuts.windows(2) {
                let mut rest = &values[piece[0]..piece[1]];
                while let Some(batch) = batches.next_full(&mut rest) {
                    got.push(batch);
                }
                prop_assert!(rest.is_empty());
            }
            got.extend(batches.rest());
            let want: Vec<(u64, Vec<u8>)> = values
                .chunks(size)
                .enumerate()
                .map(|(i, c)| ((i * size) as u64, c.to_vec()))
                .collect();
            prop_assert_eq!(got, want);
        }
    }
}
