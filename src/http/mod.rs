//! HTTP/1.1 on the wire: heads, framing, bodies.

pub mod body;
pub mod conn;
pub(crate) mod date;
pub mod decode;
pub mod framing;
pub(crate) mod h2compat;
pub(crate) mod h2end;
pub mod h2fields;
pub(crate) mod h2values;
pub mod head;
pub mod headers;
pub mod hop;
pub(crate) mod lend;
mod name_eq;
pub mod ows;
pub mod parse;
pub mod protocol;
pub(crate) mod read_past_reset;
pub(crate) mod replay;
pub(crate) mod spare;
pub mod splice;
pub(crate) mod time;
pub mod write;

pub use head::{RequestHead, ResponseHead};
pub use headers::Headers;
pub use protocol::Protocol;
