//! Request and response heads as the middleware chain sees them.
//!
//! Both are reused across the requests of one connection (`clear` keeps capacity), so
//! the hot path does not allocate once a connection has warmed up.

use super::h2fields::H2Fields;
use super::headers::Headers;
use super::protocol::Protocol;

/// A parsed request head: what middleware reads and rewrites.
#[derive(Clone, Debug, Default)]
pub struct RequestHead {
    pub method: String,
    /// The request target in origin-form (`/path?query`). Once the exchange has checked
    /// the head, its path is in normal form: what routes, middleware and plugins read,
    /// and what is forwarded (after a route's `strip_prefix`).
    pub target: String,
    /// The request target exactly as the client sent it (absolute-form included), for
    /// the access log and plugins' `original_target`. Set once by weir; a middleware
    /// that rewrites the path changes `target`, never this.
    pub original_target: String,
    /// The HTTP version the request arrived in; the keep-alive, framing and
    /// `100 Continue` decisions read it, and the access log prints it.
    pub protocol: Protocol,
    pub headers: Headers,
}

impl RequestHead {
    pub fn clear(&mut self) {
        self.method.clear();
        self.target.clear();
        self.original_target.clear();
        self.protocol = Protocol::default();
        self.headers.clear();
    }

    /// The path part of the target, without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// What the client sent as the target: [`Self::original_target`], or the target
    /// itself for a head that weir did not receive (one an embedder built).
    pub fn client_target(&self) -> &str {
        match self.original_target.is_empty() {
            true => &self.target,
            false => &self.original_target,
        }
    }

    pub fn is_head(&self) -> bool {
        self.method == "HEAD"
    }
}

/// A parsed (or locally built) response head.
#[derive(Clone, Debug, Default)]
pub struct ResponseHead {
    pub status: u16,
    pub reason: String,
    /// The HTTP version the response arrived in (an upstream's); weir writes its own
    /// responses as HTTP/1.1 whatever this says.
    pub protocol: Protocol,
    pub headers: Headers,
    /// An h2 upstream's own map of `headers`, for an h2 client while they still agree
    /// (weir's to set and read; see [`H2Fields`]).
    pub h2_fields: H2Fields,
}

impl ResponseHead {
    pub fn clear(&mut self) {
        self.status = 0;
        self.reason.clear();
        self.protocol = Protocol::default();
        self.headers.clear();
        self.h2_fields.clear();
    }
}

/// The canonical reason phrase for the statuses weir itself writes.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}
