//! How far an evaluation has got: reported as the walks predict their test changes, so that a
//! caller can show progress on a long evaluation (the walks themselves print nothing).

/// One of the evaluation's walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// The headline: leak-free, with the size at opening where the data has it.
    Headline,
    /// Without any size feature.
    WithoutSize,
    /// With the final sizes (leaky, for comparison).
    WithFinalSize,
}

impl Walk {
    /// The walk's name in a progress line.
    pub fn name(self) -> &'static str {
        match self {
            Walk::Headline => "headline",
            Walk::WithoutSize => "without size",
            Walk::WithFinalSize => "with final size",
        }
    }
}

/// Test changes a walk has reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkProgress {
    /// Which walk.
    pub walk: Walk,
    /// Test changes opened so far (predicted, or skipped when nothing could be predicted).
    pub done: usize,
    /// Test changes in the window.
    pub total: usize,
}

/// Test changes between two reports of a walk's progress.
pub(super) const EVERY: usize = 25;
