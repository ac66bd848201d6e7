//! Layer 1, the vocabulary every I/O layer shares. A webhook arrives as a [`Delivery`], a
//! normaliser ([`Normalize`]) turns it into platform-neutral [`Event`]s, a reactor decides
//! [`Action`]s that wait in the outbox as [`Enqueue`] requests, and every change to the durable
//! state is one [`WriteOp`] applied atomically by the store. Time comes from a [`Clock`] and
//! long-running loops stop on a [`shutdown`] signal. Nothing here does I/O; the store, the
//! adapters, the service and the server build on these types, never the other way round.
#![forbid(unsafe_code)]

pub mod action;
pub mod clock;
pub mod consent;
pub mod delivery;
pub mod exec_error;
pub mod normalize;
pub mod outbox;
pub mod shutdown;
pub mod write;

pub use action::{Action, STICKY_MARKER};
pub use canopy_analyzer::{Actor, Event, EventKind, Platform};
pub use clock::{BoxFuture, Clock, ManualClock, SystemClock};
pub use consent::Consent;
pub use delivery::{Delivery, DeliveryRecord, DeliveryState, Pending, state_name};
pub use exec_error::{ExecError, backoff};
pub use normalize::{Normalize, Normalized};
pub use outbox::{Enqueue, EnqueueMode, OutboxItem, OutboxState};
pub use write::{WriteOp, WriteOutcome};
