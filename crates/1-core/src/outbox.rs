//! The outbox's records: every outgoing action is stored before it is performed, under a
//! deterministic id (the idempotency key), and is pending, done or dead.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::action::Action;

/// Where an item is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting to be performed at `due_at`.
    Pending,
    /// Performed.
    Done,
    /// Gave up after repeated or permanent failures; see `last_error`.
    Dead,
}

/// One stored action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// Deterministic id: the same intention always gets the same id, which makes enqueueing
    /// idempotent (`sticky:github:o/r#7`, `reply:github:o/r:comment:123`, ...).
    pub id: String,
    /// What to do.
    #[serde(flatten)]
    pub action: Action,
    /// Current state.
    pub state: OutboxState,
    /// When it was first enqueued.
    pub created_at: DateTime<Utc>,
    /// When it may next be performed.
    pub due_at: DateTime<Utc>,
    /// Failed attempts since it was last (re)queued.
    pub attempts: u32,
    /// The last error, for the dead-letter list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When it was performed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<DateTime<Utc>>,
}

/// How a new action relates to an existing item with the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnqueueMode {
    /// The latest content wins (the sticky comment): replaces a pending item, revives a done one
    /// whose content differs, and does nothing when the content is what was already done.
    Replace,
    /// Only the first one counts (a reply to a command, a rerun): an existing item is kept.
    Once,
}

/// A request to add an action to the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Enqueue {
    /// Item id.
    pub id: String,
    /// The action.
    pub action: Action,
    /// When it may be performed.
    pub due_at: DateTime<Utc>,
    /// How it combines with an existing item.
    pub mode: EnqueueMode,
}
