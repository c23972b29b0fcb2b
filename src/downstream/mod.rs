//! The client side of a connection: the one place that reads requests from the client
//! and writes everything it receives.
//!
//! Status lines, interim 1xx, the `100 Continue` go-ahead, weir's own error and local
//! replies, the relayed response with its body, and the upgrade tunnel all go out
//! through a [`Session`]. The exchange decides *what* to answer; the session decides
//! how that is spelled on the wire (the `Connection` header, chunked or close-delimited
//! bodies for an HTTP/1.0 client), and whether the connection carries another request.
//! TLS is a different stream under the same session; HTTP/2 will be a different
//! session type, without edits to the exchange.
//!
//! HTTP/1.x ([`h1`], its [`Session`] in [`h1_session`]) and HTTP/2 ([`h2`], one
//! session per stream).

mod h1;
mod h1_session;
pub(crate) mod h2;
mod session;

pub(crate) use h1::{Downstream, PerRequest, TextReply};
pub(crate) use session::{Next, Reply, Session};
