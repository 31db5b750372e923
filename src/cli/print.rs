//! Printing events, shared by `warden run` and `warden events`.

use std::io::{self, Write};

use warden_core::{Event, EventKind};

/// Writes one event: a JSON line with `json`; otherwise the raw bytes of
/// output events (a live terminal) and, with `markers`, a one-line marker
/// for every other event.
pub fn write_event(out: &mut impl Write, event: &Event, json: bool, markers: bool) -> io::Result<()> {
    if json {
        return writeln!(out, "{}", event.to_json());
    }
    match &event.kind {
        EventKind::Output(o) => out.write_all(&o.bytes),
        _ if markers => {
            let session = event.session.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
            writeln!(out, "\r\n# {} {} {} {}", event.seq, event.node, session, event.kind_name())
        }
        _ => Ok(()),
    }
}
