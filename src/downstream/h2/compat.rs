//! The smol ↔ tokio-io adapter now lives in [`crate::http::h2compat`], shared with the
//! h2 upstream peer; its items are re-exported here under their old path.

pub(super) use crate::http::h2compat::{tokio_io, Io};
