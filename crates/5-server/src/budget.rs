//! Bounded memory under hostile load: every request body is read against one global budget of
//! bytes in flight, reserved before the bytes are read (the declared length up front, chunked
//! bodies as they arrive) and given back when the delivery is stored or refused. A request
//! that would exceed the budget is answered 503 with `Retry-After` without reading its body.
//! The signature can only be checked on the whole body, so this — not authentication — is
//! what keeps unauthenticated uploads from exhausting memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The global budget and its accounting.
#[derive(Debug)]
pub struct Budget {
    limit: usize,
    in_use: AtomicUsize,
    peak: AtomicUsize,
    refused: AtomicU64,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Budget {
        Budget {
            limit,
            in_use: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// Reserves `bytes`, or `None` (counted as refused) when that would exceed the budget.
    pub fn try_reserve(self: &Arc<Self>, bytes: usize) -> Option<Reservation> {
        let mut r = Reservation {
            budget: self.clone(),
            bytes: 0,
        };
        r.grow(bytes).then_some(r)
    }

    fn take(&self, bytes: usize) -> bool {
        let taken = self
            .in_use
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |cur| {
                cur.checked_add(bytes).filter(|n| *n <= self.limit)
            });
        match taken {
            Ok(before) => {
                self.peak.fetch_max(before + bytes, Ordering::SeqCst);
                true
            }
            Err(_) => {
                self.refused.fetch_add(1, Ordering::SeqCst);
                false
            }
        }
    }

    /// The budget in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes reserved now.
    pub fn in_use(&self) -> usize {
        self.in_use.load(Ordering::SeqCst)
    }

    /// The most bytes ever reserved at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// Requests refused for lack of budget.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::SeqCst)
    }
}

/// Bytes reserved for one request; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Reservation {
    /// Reserves `bytes` more; false (and nothing more reserved) when the budget is exhausted.
    pub fn grow(&mut self, bytes: usize) -> bool {
        if bytes == 0 {
            return true;
        }
        let ok = self.budget.take(bytes);
        if ok {
            self.bytes += bytes;
        }
        ok
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.in_use.fetch_sub(self.bytes, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_never_exceed_the_budget_and_give_back_on_drop() {
        let b = Arc::new(Budget::new(100));
        let r1 = b.try_reserve(60).unwrap();
        assert!(b.try_reserve(50).is_none());
        let mut r2 = b.try_reserve(30).unwrap();
        assert!(!r2.grow(20), "the chunk that would overflow is refused");
        assert!(r2.grow(10));
        assert_eq!((b.in_use(), b.peak(), b.refused()), (100, 100, 2));
        drop(r1);
        assert_eq!(b.in_use(), 40);
        drop(r2);
        assert_eq!(b.in_use(), 0);
        assert_eq!(b.peak(), 100);
    }
}
