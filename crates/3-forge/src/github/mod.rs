//! GitHub: webhook payloads in (normalisation); the API client comes with the actions.

pub mod client;
pub mod event;
pub mod normalize;
pub mod payload;
