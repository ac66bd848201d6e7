//! The seam between a platform's payloads and Canopy's events: the intake stores raw
//! deliveries, and a [`Normalize`] implementation (the forge layer's, or a test's) turns each
//! into events later, in the worker pool.

use canopy_analyzer::Event;

use crate::delivery::Delivery;

/// What a normaliser made of a delivery.
#[derive(Debug, Default)]
pub struct Normalized {
    /// Events to store.
    pub events: Vec<Event>,
    /// Set when the delivery is deliberately not processed (ping, unsupported event...).
    pub ignored: Option<String>,
}

/// Turns a raw delivery into events. Passed in, so the server can be tested with any normaliser.
pub trait Normalize: Send + Sync + 'static {
    /// Normalises one delivery; an error sends it to quarantine with the message.
    fn normalize(&self, delivery: &Delivery) -> Result<Normalized, String>;
}
