//! convlake's integration tests: one binary, one module per area, a shared `util`.

mod analytics;
mod catalog;
mod cli;
mod crash;
mod decode;
#[cfg(feature = "distributed")]
mod distributed;
mod engines;
mod failed_requests;
mod faults;
mod hostile;
mod lake;
mod optimizer;
mod order;
mod pg;
mod pg_attacks;
mod pg_bounds;
mod pg_clients;
mod pull;
mod reference;
mod report_html;
mod reports;
mod roundtrip;
mod s3;
mod serve;
mod serve_attacks;
mod slt;
mod throttled;
mod util;
mod years;
