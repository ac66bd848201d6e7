//! The stored form of an event. Format 1 stored events as JSON; later formats may store a
//! compact form. The reader tells them apart by the first byte (JSON starts with `{`), so a
//! store keeps working while its events are being rewritten.

use canopy_analyzer::Event;
use canopy_analyzer::event::EVENT_SCHEMA_VERSION;

use crate::StoreError;

/// Appends the stored form of `ev` to `out`.
pub fn encode_event(ev: &Event, out: &mut Vec<u8>) -> Result<(), StoreError> {
    serde_json::to_writer(out, ev).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Reads an event in any stored form; refuses one written by a newer event schema.
pub fn decode_event(bytes: &[u8]) -> Result<Event, StoreError> {
    let ev: Event = crate::decode(bytes, "event")?;
    if ev.v > EVENT_SCHEMA_VERSION {
        return Err(StoreError::Corrupt(format!(
            "event {} has schema version {}, newer than this canopy's {}",
            ev.id, ev.v, EVENT_SCHEMA_VERSION
        )));
    }
    Ok(ev)
}
