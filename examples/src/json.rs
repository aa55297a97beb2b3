//! The JSON shape of each kind of object, shared by every binary that prints it, so that a
//! snapshot printed by `flocker-ls --json` and by `datavault list --json` reads the same:
//!
//! - `name`: the full name;
//! - `guid`: a decimal **string** (a JSON number loses precision above 2^53, and a guid is a
//!   64-bit number);
//! - `createtxg`: a number;
//! - `creation` (and every other instant): an RFC 3339 UTC string;
//! - byte counts (`used`, `referenced`, `written`, ...): numbers (`written` is `null` when the
//!   kernel does not report it).
//!
//! Each binary adds its own fields to these (`flocker-ls`: holds, clones, user properties;
//! `datavault list`: the retention decision).

use flocker_core::inventory::SnapshotInfo;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// An instant as RFC 3339 in UTC (`2026-01-31T12:00:00Z`); seconds since the epoch in the
/// unreachable case that it cannot be formatted (a year beyond 9999).
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// A guid as a decimal string.
pub fn guid(g: u64) -> Value {
    Value::String(g.to_string())
}

/// The fields every snapshot row has: `name`, `guid`, `createtxg`, `creation`, `used`,
/// `referenced`, `written`.
pub fn snapshot(s: &SnapshotInfo) -> Map<String, Value> {
    let v = json!({
        "name": s.name.as_str(),
        "guid": guid(s.guid),
        "createtxg": s.createtxg,
        "creation": rfc3339(s.creation),
        "used": s.used,
        "referenced": s.referenced,
        "written": s.written,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `base` with the fields of `extra` (an object) added; `extra`'s win.
pub fn with(mut base: Map<String, Value>, extra: Value) -> Value {
    if let Value::Object(m) = extra {
        base.extend(m);
    }
    Value::Object(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_is_utc() {
        let t = OffsetDateTime::from_unix_timestamp(1_767_225_600)
            .unwrap()
            .to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap());
        assert_eq!(rfc3339(t), "2026-01-01T00:00:00Z");
    }

    #[test]
    fn a_guid_keeps_every_digit() {
        assert_eq!(guid(u64::MAX), Value::String("18446744073709551615".into()));
    }

    #[test]
    fn with_adds_fields() {
        let mut m = Map::new();
        m.insert("name".into(), json!("p/a@s"));
        let v = with(m, json!({"dataset": "p/a"}));
        assert_eq!(v, json!({"name": "p/a@s", "dataset": "p/a"}));
    }
}
