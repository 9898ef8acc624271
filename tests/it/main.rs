//! convlake's integration tests: one binary, one module per area, a shared `util`.

mod decode;
mod hostile;
mod reference;
mod roundtrip;
mod util;
