//! The client side of a connection: the one place that reads requests from the client
//! and writes everything it receives.
//!
//! Status lines, interim 1xx, the `100 Continue` go-ahead, weir's own error and local
//! replies, the relayed response with its body, and the upgrade tunnel all go out
//! through [`Downstream`]. The exchange decides *what* to answer; the downstream decides
//! how that is spelled on the wire (the `Connection` header, chunked or close-delimited
//! bodies for an HTTP/1.0 client). That is where TLS (a different stream) and HTTP/2 (a
//! different session) plug in, without edits to the exchange.
//!
//! Today there is one protocol, HTTP/1.x over a plain TCP stream ([`h1`]).

mod h1;

pub(crate) use h1::{Downstream, TextReply};
