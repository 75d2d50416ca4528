//! What a connection is doing: its requests in flight, so a connection with none for `idle` can be closed on any protocol.
//!
//! hyper bounds the wait for an HTTP/1 request head, but nothing closes an
//! HTTP/2 connection that never opens a stream, or one of either protocol
//! that stops before its version is known. A request counts as in flight from
//! the call of the service until its response body is finished or dropped,
//! so a long download is never taken for idleness.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use tokio::time::Instant;

/// One connection's requests in flight, and when the last of them ended.
///
/// Counters, not a channel: a request's start and end are an atomic add
/// each, where notifying a waiter woke the connection's task twice per
/// request and set a timer each time. The idle watch looks when its time
/// is up instead.
#[derive(Debug, Clone)]
pub(crate) struct Activity(Arc<Counts>);

#[derive(Debug)]
struct Counts {
    in_flight: AtomicUsize,
    /// When the last request ended (or the connection opened), as
    /// nanoseconds after `opened`.
    quiet_since: AtomicU64,
    opened: Instant,
}

impl Activity {
    pub(crate) fn new() -> Self {
        Self(Arc::new(Counts {
            in_flight: AtomicUsize::new(0),
            quiet_since: AtomicU64::new(0),
            opened: Instant::now(),
        }))
    }

    fn begin(&self) -> InFlight {
        self.0.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.0.clone())
    }

    /// Resolves once the connection has had no request in flight for `idle`.
    pub(crate) async fn idle_for(&self, idle: Duration) {
        let counts = &self.0;
        loop {
            // The count first: a request's end is written before its count
            // drops, so a count of none comes with its end time.
            let busy = counts.in_flight.load(Ordering::Acquire) > 0;
            let quiet = counts.quiet_since.load(Ordering::Acquire);
            let wake = if busy {
                Instant::now() + idle
            } else {
                let until = counts.opened + Duration::from_nanos(quiet) + idle;
                let still_quiet = || {
                    counts.in_flight.load(Ordering::Acquire) == 0
                        && counts.quiet_since.load(Ordering::Acquire) == quiet
                };
                if Instant::now() >= until && still_quiet() {
                    return;
                }
                until
            };
            tokio::time::sleep_until(wake).await;
        }
    }
}

/// One request in flight; dropping it ends the request.
#[derive(Debug)]
struct InFlight(Arc<Counts>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let since = self.0.opened.elapsed().as_nanos();
        self.0
            .quiet_since
            .store(u64::try_from(since).unwrap_or(u64::MAX), Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A service whose requests are counted in an [`Activity`].
#[derive(Debug, Clone)]
pub(crate) struct Tracked<S> {
    pub(crate) inner: S,
    pub(crate) activity: Activity,
}

impl<S, R, B> hyper::service::Service<Request<R>> for Tracked<S>
where
    S: hyper::service::Service<Request<R>, Response = Response<B>>,
    S::Future: Send + 'static,
{
    type Response = Response<TrackedBody<B>>;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn call(&self, req: Request<R>) -> Self::Future {
        let in_flight = self.activity.begin();
        let response = self.inner.call(req);
        Box::pin(async move {
            let resp = response.await?;
            Ok(resp.map(|inner| TrackedBody {
                inner,
                _in_flight: in_flight,
            }))
        })
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request in flight until it is done.
    pub(crate) struct TrackedBody<B> {
        #[pin]
        inner: B,
        _in_flight: InFlight,
    }
}

impl<B: Body> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
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

    #[tokio::test(start_paused = true)]
    async fn idle_counts_from_the_last_request_that_ended() {
        let activity = Activity::new();
        let started = tokio::time::Instant::now();
        let request = activity.begin();
        let idle = tokio::spawn({
            let activity = activity.clone();
            async move { activity.idle_for(Duration::from_secs(10)).await }
        });
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!idle.is_finished(), "a request in flight is not idleness");
        drop(request);
        idle.await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(40));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_came_and_went_during_the_wait_restarts_it() {
        let activity = Activity::new();
        let started = tokio::time::Instant::now();
        let idle = tokio::spawn({
            let activity = activity.clone();
            async move { activity.idle_for(Duration::from_secs(10)).await }
        });
        tokio::time::sleep(Duration::from_secs(4)).await;
        drop(activity.begin());
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(activity.begin());
        idle.await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(17));
    }
}
