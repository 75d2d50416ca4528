//! Bodies crossing the gateway, watched: a request body that says whose turn it is, and a member's answer cut off when it stalls or breaks.
//!
//! A request to a member has three phases with three different culprits:
//! the sender (the client, or a mount's source member) producing its body,
//! the member taking it, and the member answering once the body has ended.
//! [`Outbound`] records which phase a request is in and since when, so that
//! the wait for the answer is counted from the end of the body (a slow
//! upload is not a slow member), a stall is blamed on the side that stalled,
//! and a body the sender broke is never taken for a member failure.
//! [`Inbound`] carries a member's answer to the client and turns a stall or
//! a break into an error, which makes hyper abort the client's response:
//! the connection is closed (HTTP/1.1) or the stream reset (HTTP/2), so a
//! truncated body never looks complete.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

use crate::metrics::Metrics;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Whose turn it is in a request to a member, and since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    /// The member's side holds the last bytes: the connection is being made,
    /// or the member has not taken what was sent.
    Member(Instant),
    /// The gateway waits for the sender's next bytes.
    Sender(Instant),
    /// The body has ended: the member's answer is due.
    Answer(Instant),
    /// The sender's body failed: cut short, malformed or refused by hyper.
    SenderFailed,
}

/// What [`overdue`] found late.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overdue {
    /// The sender sent nothing for the stall bound.
    SenderStalled,
    /// The sender's body failed.
    SenderFailed,
    /// The member took nothing for the stall bound.
    MemberStalled,
    /// The member did not start answering in time after the body ended.
    NoAnswer,
}

/// A request body on its way to a member, reporting its [`Turn`].
#[derive(Debug)]
pub(crate) struct Outbound<B> {
    inner: B,
    turn: watch::Sender<Turn>,
}

impl<B: Body> Outbound<B> {
    /// Wraps `inner`; the receiver follows its turns. A body that is already
    /// over (a GET's) starts at [`Turn::Answer`].
    pub(crate) fn new(inner: B) -> (Self, watch::Receiver<Turn>) {
        let now = Instant::now();
        let first = if inner.is_end_stream() {
            Turn::Answer(now)
        } else {
            Turn::Member(now)
        };
        let (turn, turns) = watch::channel(first);
        (Self { inner, turn }, turns)
    }

    /// Records a turn that only moves a deadline later: no wake-up, since
    /// [`overdue`] looks again when its deadline passes.
    fn quietly(&self, next: Turn) {
        self.turn.send_if_modified(|turn| {
            let kept = matches!(
                (*turn, next),
                (Turn::Sender(_), Turn::Sender(_)) | (Turn::SenderFailed | Turn::Answer(_), _)
            );
            if !kept {
                *turn = next;
            }
            false
        });
    }

    /// Records a turn that may bring a deadline closer, waking [`overdue`].
    fn loudly(&self, next: Turn) {
        self.turn.send_replace(next);
    }
}

impl<B> Body for Outbound<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => {
                this.quietly(Turn::Sender(Instant::now()));
                Poll::Pending
            }
            Poll::Ready(Some(Ok(frame))) => {
                if this.inner.is_end_stream() {
                    this.loudly(Turn::Answer(Instant::now()));
                } else {
                    this.quietly(Turn::Member(Instant::now()));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.loudly(Turn::SenderFailed);
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(None) => {
                this.loudly(Turn::Answer(Instant::now()));
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Resolves when a request's current turn has lasted too long: `stall` for
/// either side's turn with the body, `answer` from the body's end to the
/// answer. Pending for as long as every turn keeps within its bound.
pub(crate) async fn overdue(
    mut turns: watch::Receiver<Turn>,
    stall: Duration,
    answer: Duration,
) -> Overdue {
    loop {
        let turn = *turns.borrow_and_update();
        let (deadline, late) = match turn {
            Turn::Member(since) => (since + stall, Overdue::MemberStalled),
            Turn::Sender(since) => (since + stall, Overdue::SenderStalled),
            Turn::Answer(since) => (since + answer, Overdue::NoAnswer),
            Turn::SenderFailed => return Overdue::SenderFailed,
        };
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => {
                // Quiet turns move deadlines without a wake-up: look again.
                if *turns.borrow() == turn {
                    return late;
                }
            }
            changed = turns.changed() => {
                if changed.is_err() {
                    // hyper dropped the body: its last turn is final.
                    let last = *turns.borrow();
                    if last != turn {
                        continue;
                    }
                    tokio::time::sleep_until(deadline).await;
                    return late;
                }
            }
        }
    }
}

/// A member's answer on its way to the client. A stall of `stall` between
/// bytes, or a body that breaks (the member died, closed early, sent bad
/// chunks), becomes an error, counted and logged against the member.
#[derive(Debug)]
pub(crate) struct Inbound {
    inner: Incoming,
    member: String,
    stall: Duration,
    /// Since when the member owes bytes: set when hyper asks and nothing is
    /// there, cleared by the next bytes; never set while the client is slow
    /// to take them (then hyper does not ask).
    owed_since: Option<Instant>,
    /// One timer for the whole body, made at the first wait. It is moved
    /// only when it fires early (the member sent bytes since it was set),
    /// not at every chunk: a chunk's bytes then cost no timer work.
    timer: Option<Pin<Box<Sleep>>>,
    metrics: Arc<Metrics>,
    failed: bool,
}

impl Inbound {
    pub(crate) fn new(
        inner: Incoming,
        member: String,
        stall: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            inner,
            member,
            stall,
            owed_since: None,
            timer: None,
            metrics,
            failed: false,
        }
    }

    fn abort(&mut self, cause: &'static str, detail: String) -> std::io::Error {
        self.failed = true;
        self.metrics.upstream_body_abort(&self.member, cause);
        tracing::warn!(member = %self.member, cause, %detail, "member's answer cut off mid-body: aborting the client's response");
        std::io::Error::other(format!("member {} {detail}", self.member))
    }
}

impl Body for Inbound {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.owed_since = None;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => {
                let err = this.abort("error", format!("broke its answer: {e}"));
                Poll::Ready(Some(Err(err)))
            }
            Poll::Pending => {
                let stall = this.stall;
                let due = *this.owed_since.get_or_insert_with(Instant::now) + stall;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
                loop {
                    if timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    if timer.deadline() >= due {
                        break;
                    }
                    // Set for an earlier wait, which bytes ended: this
                    // wait's bound is later.
                    timer.as_mut().reset(due);
                }
                let err = this.abort("stall", format!("sent no byte of its answer for {stall:?}"));
                Poll::Ready(Some(Err(err)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests;
