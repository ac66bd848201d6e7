//! Gerrit and Zuul: stream events in (normalisation), Zuul report parsing.

pub mod client;
pub mod lenient;
pub mod normalize;
pub mod zuul;
