//! Why an upstream attempt failed, and what that means for a retry.
//!
//! The cause, not the error text, decides: whose fault it was (passive health), and
//! whether another server may be tried. Whether any byte of the request reached the
//! upstream is carried beside it ([`super::attempt::Failed::sent`]), since the same
//! cause can come before or after sending.

use std::fmt;

/// What went wrong with one upstream attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    /// The connection could not be made (refused, unreachable).
    Refused,
    /// The connection was not made within `timeouts.connect`.
    ConnectTimeout,
    /// The connection was reset while writing the request or reading the response.
    Reset,
    /// The upstream closed the connection without a response.
    Closed,
    /// No response head within `timeouts.upstream_read`.
    Timeout,
    /// A malformed or unexpected response head.
    BadResponse,
    /// The client went away before its body was asked for.
    ClientGone,
    /// The client's request body failed (malformed, too large, stalled).
    Client,
    /// This host ran short of file descriptors, ports or buffers while connecting: no
    /// fault of the server, and another would fare no better.
    Local,
}

impl Cause {
    /// The upstream is to blame: the failure counts against its health.
    pub fn upstream_fault(self) -> bool {
        !matches!(self, Cause::ClientGone | Cause::Client | Cause::Local)
    }

    /// Another server may do better (subject to the idempotency rule). A bad response
    /// is not retried: the origin answered, and another may answer the same.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            Cause::Refused | Cause::ConnectTimeout | Cause::Reset | Cause::Closed | Cause::Timeout
        )
    }

    /// The word in logs and debug headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Refused => "refused",
            Cause::ConnectTimeout => "connect timeout",
            Cause::Reset => "reset",
            Cause::Closed => "closed",
            Cause::Timeout => "timeout",
            Cause::BadResponse => "bad response",
            Cause::ClientGone => "client gone",
            Cause::Client => "client",
            Cause::Local => "local",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
