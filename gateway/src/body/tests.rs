//! Turns of a request body, under paused time: each deadline counted from the right moment and blamed on the right side.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use tokio::sync::mpsc;
use tokio::time::{sleep, Instant};

use super::*;

const STALL: Duration = Duration::from_secs(10);
const ANSWER: Duration = Duration::from_secs(5);

/// A body fed by the test, as a client's upload would be.
struct Fed(mpsc::Receiver<Result<Bytes, io::Error>>);

impl Body for Fed {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|item| item.map(|r| r.map(Frame::data)))
    }
}

/// A watched body, its turns, the feeding end, and a task taking every
/// frame as a member's connection would.
fn watched() -> (
    watch::Receiver<Turn>,
    mpsc::Sender<Result<Bytes, io::Error>>,
) {
    let (feed, rx) = mpsc::channel(1);
    let (mut body, turns) = Outbound::new(Fed(rx));
    tokio::spawn(async move { while let Some(Ok(_)) = body.frame().await {} });
    (turns, feed)
}

#[tokio::test(start_paused = true)]
async fn the_answer_is_awaited_from_the_end_of_the_body_however_long_the_upload() {
    let (turns, feed) = watched();
    let started = Instant::now();
    tokio::spawn(async move {
        // Six times the answer bound, never pausing as long as the stall bound.
        for _ in 0..10 {
            feed.send(Ok(Bytes::from_static(b"chunk"))).await.unwrap();
            sleep(Duration::from_secs(3)).await;
        }
    });
    let late = overdue(turns, STALL, ANSWER).await;
    assert_eq!(late, Overdue::NoAnswer);
    assert_eq!(started.elapsed(), Duration::from_secs(30) + ANSWER);
}

#[tokio::test(start_paused = true)]
async fn a_sender_that_stops_sending_is_overdue_at_the_stall_bound() {
    let (turns, feed) = watched();
    feed.send(Ok(Bytes::from_static(b"first"))).await.unwrap();
    sleep(Duration::from_secs(1)).await;
    let waiting_since = Instant::now();
    let late = overdue(turns, STALL, ANSWER).await;
    assert_eq!(late, Overdue::SenderStalled);
    assert_eq!(waiting_since.elapsed(), STALL - Duration::from_secs(1));
    drop(feed);
}

#[tokio::test(start_paused = true)]
async fn a_member_that_stops_taking_bytes_is_overdue_at_the_stall_bound() {
    let (feed, rx) = mpsc::channel(4);
    let (mut body, turns) = Outbound::new(Fed(rx));
    for _ in 0..4 {
        feed.send(Ok(Bytes::from_static(b"chunk"))).await.unwrap();
    }
    // The member's connection takes one frame, then nothing more.
    let first = body.frame().await;
    assert!(first.is_some());
    let took = Instant::now();
    assert_eq!(overdue(turns, STALL, ANSWER).await, Overdue::MemberStalled);
    assert_eq!(took.elapsed(), STALL);
}

#[tokio::test(start_paused = true)]
async fn a_body_the_sender_broke_is_the_senders_failure_at_once() {
    let (turns, feed) = watched();
    feed.send(Ok(Bytes::from_static(b"first"))).await.unwrap();
    feed.send(Err(io::Error::other("invalid chunk size")))
        .await
        .unwrap();
    let started = Instant::now();
    assert_eq!(overdue(turns, STALL, ANSWER).await, Overdue::SenderFailed);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn an_empty_body_starts_the_answer_bound_at_once() {
    let (_, turns) = Outbound::new(http_body_util::Empty::<Bytes>::new());
    let started = Instant::now();
    assert_eq!(overdue(turns, STALL, ANSWER).await, Overdue::NoAnswer);
    assert_eq!(started.elapsed(), ANSWER);
}
