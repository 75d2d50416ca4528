//! The gateway-wide memory budget for merges: what catalog and search merges buffer, counted against one pool as it is read.
//!
//! `limits.mergedBodyBytes` bounds one member's answer; this bounds all of
//! them together, across concurrent requests, so that eight clients asking
//! for a large catalog at once cannot make the gateway grow eightfold. A
//! merge that would go over fails at once (503 on the catalog, a GraphQL
//! error on search) instead of waiting: a queue of merges would hold their
//! clients and their members' connections just as long.
//!
//! The pool is a semaphore of KiB units; a [`Charge`] holds a request's
//! share and gives it back when dropped, which for a merged catalog is when
//! its response body has been sent.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The unit the semaphore counts: one permit per KiB keeps the count well
/// inside what a semaphore holds whatever the configured budget.
const UNIT: usize = 1024;

/// The pool every merge draws from.
#[derive(Debug)]
pub(crate) struct Budget {
    pool: Arc<Semaphore>,
    bytes: usize,
    /// Bytes charged now, exported as `flotilla_gateway_merge_budget_used_bytes`.
    used: Gauge,
}

/// The pool had no room for more: another request holds it.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the gateway's merge budget (limits.mergeBudgetBytes, {limit} bytes) is in use by other requests")]
pub(crate) struct Exhausted {
    pub(crate) limit: usize,
}

impl From<Exhausted> for crate::error::GatewayError {
    fn from(e: Exhausted) -> Self {
        Self::MergeBudget { limit: e.limit }
    }
}

impl Budget {
    pub(crate) fn new(bytes: usize, used: Gauge) -> Self {
        let units = bytes.div_ceil(UNIT).min(Semaphore::MAX_PERMITS);
        Self {
            pool: Arc::new(Semaphore::new(units)),
            bytes,
            used,
        }
    }

    /// An empty charge against this pool, to grow with [`Charge::add`].
    pub(crate) fn charge(&self) -> Charge {
        Charge {
            pool: Some((self.pool.clone(), self.bytes, self.used.clone())),
            permit: None,
            bytes: 0,
        }
    }
}

/// Bytes one request holds of the pool, given back on drop.
#[derive(Debug, Default)]
pub(crate) struct Charge {
    /// `None` for reads outside any merge (learning the schema at start).
    pool: Option<(Arc<Semaphore>, usize, Gauge)>,
    permit: Option<OwnedSemaphorePermit>,
    bytes: usize,
}

impl Charge {
    /// A charge counted against nothing.
    pub(crate) fn unbudgeted() -> Self {
        Self::default()
    }

    /// An empty charge against the same pool, given back on its own.
    pub(crate) fn sibling(&self) -> Charge {
        Charge {
            pool: self.pool.clone(),
            permit: None,
            bytes: 0,
        }
    }

    /// Charges `more` bytes, or fails at once if the pool lacks room.
    pub(crate) fn add(&mut self, more: usize) -> Result<(), Exhausted> {
        let Some((pool, limit, used)) = &self.pool else {
            return Ok(());
        };
        let bytes = self.bytes.saturating_add(more);
        let held = self.bytes.div_ceil(UNIT);
        let needed = bytes.div_ceil(UNIT) - held;
        if needed > 0 {
            let units = u32::try_from(needed).map_err(|_| Exhausted { limit: *limit })?;
            let permit = pool
                .clone()
                .try_acquire_many_owned(units)
                .map_err(|_| Exhausted { limit: *limit })?;
            used.inc_by(i64::from(units) * UNIT as i64);
            match &mut self.permit {
                Some(held) => held.merge(permit),
                None => self.permit = Some(permit),
            }
        }
        self.bytes = bytes;
        Ok(())
    }

    /// Takes over what `other` holds, so both are given back together.
    pub(crate) fn absorb(&mut self, mut other: Charge) {
        match (&mut self.permit, other.permit.take()) {
            (Some(held), Some(permit)) => held.merge(permit),
            (None, Some(permit)) => self.permit = Some(permit),
            _ => {}
        }
        // Rounded up per charge, so the units match the permits held.
        let units = self.bytes.div_ceil(UNIT) + other.bytes.div_ceil(UNIT);
        self.bytes = units * UNIT;
        other.bytes = 0;
        if self.pool.is_none() {
            self.pool = other.pool.take();
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if let (Some((_, _, used)), Some(permit)) = (&self.pool, &self.permit) {
            used.dec_by(permit.num_permits() as i64 * UNIT as i64);
        }
    }
}

/// A response body made by the gateway that holds its charge until the
/// client has it: a large merged answer counts while it is being sent.
#[derive(Debug)]
pub(crate) struct Charged {
    data: Option<Bytes>,
    _charge: Charge,
}

impl Charged {
    pub(crate) fn new(data: Bytes, charge: Charge) -> Self {
        Self {
            data: Some(data),
            _charge: charge,
        }
    }
}

impl HttpBody for Charged {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(self.data.take().map(|d| Ok(Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_share_one_pool_and_give_it_back_on_drop() {
        let used = Gauge::default();
        let budget = Budget::new(10 * UNIT, used.clone());
        let mut a = budget.charge();
        a.add(6 * UNIT).unwrap();
        a.add(1).unwrap();
        assert_eq!(used.get(), 7 * UNIT as i64);
        let mut b = budget.charge();
        assert!(b.add(4 * UNIT).is_err(), "7 KiB of 10 are held");
        b.add(3 * UNIT).unwrap();
        a.absorb(b);
        assert_eq!(used.get(), 10 * UNIT as i64);
        drop(a);
        assert_eq!(used.get(), 0);
        let mut c = budget.charge();
        c.add(10 * UNIT).unwrap();
    }

    #[test]
    fn unbudgeted_reads_count_against_nothing() {
        let mut free = Charge::unbudgeted();
        free.add(usize::MAX).unwrap();
    }
}
