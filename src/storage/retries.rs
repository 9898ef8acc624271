//! Reporting the object store's retries. The store's HTTP client retries a transient error
//! (a 5xx, a 429, a timeout, a refused connection) up to three times with backoff within a
//! minute (`remote.rs`), and says so only as `tracing` events of the `object_store` crate.
//! [`install`] makes those events reach the user: each retry is one line on stderr, so a slow
//! night on a throttled bucket shows why, and [`count`] tells how many there were.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

/// Retries reported since the process started.
static RETRIES: AtomicU64 = AtomicU64::new(0);

/// The storage requests retried so far in this process.
pub fn count() -> u64 {
    RETRIES.load(Ordering::Relaxed)
}

/// Reports the object store's retries on stderr from now on (once per process; a later call,
/// or a subscriber already set by an embedding program, leaves things as they are).
pub fn install() {
    let _ = tracing::subscriber::set_global_default(Reporter);
}

/// The subscriber: only the `object_store` crate's events at `INFO` or above, no spans.
struct Reporter;

impl Reporter {
    fn wanted(metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("object_store") && *metadata.level() <= Level::INFO
    }
}

impl Subscriber for Reporter {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if Self::wanted(metadata) && metadata.is_event() {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        Self::wanted(metadata) && metadata.is_event()
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        if message.0.contains("retry") {
            RETRIES.fetch_add(1, Ordering::Relaxed);
        }
        eprintln!("convlake: storage request: {}", message.0.trim());
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// An event's fields as one line: its message, then any other field as `name=value`.
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?} ");
        } else {
            let _ = write!(self.0, "{}={value:?} ", field.name());
        }
    }
}
