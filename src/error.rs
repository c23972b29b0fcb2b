//! Errors classified by whose fault they are, each mapped to the status weir answers.
//!
//! The classification (client / upstream / internal) decides the status family and
//! whether the client connection can continue; the `why` text goes to the log.

use std::fmt;
use std::io;

/// Whose fault an error is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Client,
    Upstream,
    Internal,
}

/// What went wrong, at the granularity that picks a status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Malformed request or ambiguous framing: 400.
    BadRequest,
    /// The request head did not arrive in time: 408.
    HeaderTimeout,
    /// The request body exceeded `max_body_bytes`: 413.
    BodyTooLarge,
    /// The request target alone exceeded the head limit: 414.
    UriTooLong,
    /// The head or the header count exceeded its limit: 431.
    HeadersTooLarge,
    /// A transfer coding weir does not implement: 501.
    UnknownCoding,
    /// An `Expect` value other than `100-continue`: 417.
    ExpectationFailed,
    /// A well-formed request line naming an HTTP major version other than 1: 505.
    VersionNotSupported,
    /// No route matches the request (host, path, method, headers, scheme, listener): 404.
    NoRoute,
    /// The client went away or stalled mid-request; nobody to answer.
    ClientGone,
    /// Upstream refused, reset, or sent a malformed response: 502.
    BadGateway,
    /// No upstream to send to: 503.
    NoUpstream,
    /// This host ran short of a resource (file descriptors, local ports) while
    /// connecting upstream: 503, and no fault of the server.
    LocalShortage,
    /// Upstream connect or read timed out: 504.
    GatewayTimeout,
    /// A bug or a failed middleware: 500.
    Internal,
}

impl Kind {
    pub fn status(self) -> u16 {
        match self {
            Kind::BadRequest | Kind::ClientGone => 400,
            Kind::HeaderTimeout => 408,
            Kind::BodyTooLarge => 413,
            Kind::UriTooLong => 414,
            Kind::HeadersTooLarge => 431,
            Kind::UnknownCoding => 501,
            Kind::ExpectationFailed => 417,
            Kind::VersionNotSupported => 505,
            Kind::NoRoute => 404,
            Kind::BadGateway => 502,
            Kind::NoUpstream | Kind::LocalShortage => 503,
            Kind::GatewayTimeout => 504,
            Kind::Internal => 500,
        }
    }

    pub fn source(self) -> Source {
        match self {
            Kind::BadRequest
            | Kind::HeaderTimeout
            | Kind::BodyTooLarge
            | Kind::UriTooLong
            | Kind::HeadersTooLarge
            | Kind::UnknownCoding
            | Kind::ExpectationFailed
            | Kind::VersionNotSupported
            | Kind::NoRoute
            | Kind::ClientGone => Source::Client,
            Kind::BadGateway | Kind::NoUpstream | Kind::GatewayTimeout => Source::Upstream,
            Kind::Internal | Kind::LocalShortage => Source::Internal,
        }
    }
}

/// An error on the way of one request.
#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    pub why: &'static str,
    pub io: Option<io::Error>,
    /// What the client is told besides the status, when weir knows something it can
    /// act on (a group whose names never resolved); `None`: the status line alone.
    pub told: Option<String>,
}

impl Error {
    pub fn new(kind: Kind, why: &'static str) -> Self {
        Error {
            kind,
            why,
            io: None,
            told: None,
        }
    }

    pub fn io(kind: Kind, why: &'static str, e: io::Error) -> Self {
        Error {
            kind,
            why,
            io: Some(e),
            told: None,
        }
    }

    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// The same error, its reply's body saying `text` after the status line.
    pub fn telling(mut self, text: String) -> Self {
        self.told = Some(text);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.why, self.status())?;
        if let Some(e) = &self.io {
            write!(f, ": {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.io.as_ref().map(|e| e as _)
    }
}

impl From<httparse::Error> for Error {
    fn from(e: httparse::Error) -> Self {
        let why = match e {
            httparse::Error::HeaderName => "invalid header name",
            httparse::Error::HeaderValue => "invalid header value",
            httparse::Error::NewLine => "invalid line ending",
            httparse::Error::Status => "invalid status",
            httparse::Error::Token => "invalid token",
            httparse::Error::TooManyHeaders => "too many headers",
            httparse::Error::Version => "unsupported HTTP version",
        };
        let kind = match e {
            httparse::Error::TooManyHeaders => Kind::HeadersTooLarge,
            _ => Kind::BadRequest,
        };
        Error::new(kind, why)
    }
}
