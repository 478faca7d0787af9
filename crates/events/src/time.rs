//! Conversions between `chrono::DateTime<Utc>` and `prost_types::Timestamp`.

use chrono::{DateTime, Utc};
use prost_types::Timestamp;

/// Converts a UTC time to a protobuf timestamp (nanosecond precision kept).
pub fn to_timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// Converts a protobuf timestamp back; `None` when it is out of chrono's range
/// or its nanos are not in `0..1_000_000_000` after normalising.
pub fn from_timestamp(ts: &Timestamp) -> Option<DateTime<Utc>> {
    let mut ts = *ts;
    ts.normalize();
    DateTime::from_timestamp(ts.seconds, u32::try_from(ts.nanos).ok()?)
}
