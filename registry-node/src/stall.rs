//! A body that fails when its sender stalls: no frame for the allowed time between bytes.
//!
//! A whole-body deadline would cut off a slow but steady upload (docker sends
//! each layer as one request); bounding the gap between frames frees what a
//! client that stopped sending holds, however long an honest transfer takes.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// The error a stalled body ends with.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("body stalled: no bytes for {0:?}")]
pub struct Stalled(pub Duration);

pin_project_lite::pin_project! {
    /// `B`, failing with [`Stalled`] after `stall` without a frame.
    pub struct Stalling<B> {
        #[pin]
        inner: B,
        stall: Duration,
        #[pin]
        timer: Sleep,
    }
}

impl<B> Stalling<B> {
    pub fn new(inner: B, stall: Duration) -> Self {
        Self {
            inner,
            stall,
            timer: tokio::time::sleep(stall),
        }
    }
}

impl<B> Body for Stalling<B>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(frame) => {
                this.timer.reset(Instant::now() + *this.stall);
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => match this.timer.poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(Stalled(*this.stall))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::BodyExt;

    #[tokio::test(start_paused = true)]
    async fn a_steady_body_never_stalls_and_a_silent_one_does() {
        let (tx, rx) = futures_channel_body();
        let mut body = std::pin::pin!(Stalling::new(rx, Duration::from_secs(5)));
        let sender = tokio::spawn(async move {
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_secs(4)).await;
                tx.send(Bytes::from_static(b"x")).await.unwrap();
            }
            // Then silence, with the sender still open.
            std::future::pending::<()>().await;
        });
        let mut got = 0;
        let err = loop {
            match body.frame().await {
                Some(Ok(_)) => got += 1,
                Some(Err(e)) => break e,
                None => panic!("the body cannot end"),
            }
        };
        assert_eq!(got, 10, "40 s of frames 4 s apart are not a stall");
        assert!(err.is::<Stalled>(), "{err}");
        sender.abort();
    }

    /// A body fed by a channel, as a client's upload arrives.
    fn futures_channel_body() -> (
        tokio::sync::mpsc::Sender<Bytes>,
        http_body_util::StreamBody<
            impl futures_util::Stream<Item = Result<Frame<Bytes>, std::convert::Infallible>>,
        >,
    ) {
        use futures_util::StreamExt;
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let stream =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|b| (b, rx)) },
            )
            .map(|b| Ok(Frame::data(b)));
        (tx, http_body_util::StreamBody::new(stream))
    }
}
