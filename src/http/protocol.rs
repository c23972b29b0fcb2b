//! [`Protocol`]: the HTTP version a head arrived in, as a type.
//!
//! A head used to carry HTTP/1's minor digit, and every decision read it as "0 or 1".
//! That cannot say HTTP/2, and `minor == 1` silently meant "HTTP/1.1" in one place and
//! "not HTTP/1.0" in another. The questions the HTTP/1 code asks are named instead
//! ([`Protocol::is_http10`], [`Protocol::is_http11`]), so adding a protocol makes each of
//! them a decision to take, not a number that happens to compare.

use std::fmt;

/// The HTTP version of a request or response head.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// HTTP/1.0: no persistent connection unless asked for, no chunked framing, no
    /// interim responses.
    Http10,
    /// HTTP/1.1, also what a later HTTP/1 minor (`HTTP/1.9`) is served as (RFC 9110
    /// §2.5). The default: what a head weir builds itself speaks.
    #[default]
    Http11,
    /// HTTP/2 (RFC 9113).
    Http2,
}

impl Protocol {
    /// The version as an access log and the plugin ABI print it: `HTTP/1.0`,
    /// `HTTP/1.1`, `HTTP/2.0`. HTTP/2 is written `HTTP/2.0` because that is what nginx
    /// (`$server_protocol`), HAProxy (`%HV`) and Caddy (`proto`) log, so log parsers
    /// written for them read weir's lines too.
    pub const fn as_str(self) -> &'static str {
        match self {
            Protocol::Http10 => "HTTP/1.0",
            Protocol::Http11 => "HTTP/1.1",
            Protocol::Http2 => "HTTP/2.0",
        }
    }

    /// The protocol of an HTTP/1 head whose version line said `HTTP/1.<minor>`, as
    /// httparse reports it: 0 is HTTP/1.0, anything else is served as HTTP/1.1.
    pub const fn from_h1_minor(minor: u8) -> Self {
        match minor {
            0 => Protocol::Http10,
            _ => Protocol::Http11,
        }
    }

    /// HTTP/1.0: persistent only with `Connection: keep-alive`, no chunked framing,
    /// no interim responses, no required Host.
    pub const fn is_http10(self) -> bool {
        matches!(self, Protocol::Http10)
    }

    /// HTTP/1.1 exactly: what `Expect: 100-continue`, chunked framing for a body of
    /// unknown length and a WebSocket upgrade need.
    pub const fn is_http11(self) -> bool {
        matches!(self, Protocol::Http11)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_h1_minor_maps_to_its_protocol_and_prints_as_logs_expect() {
        assert_eq!(Protocol::from_h1_minor(0), Protocol::Http10);
        assert_eq!(Protocol::from_h1_minor(1), Protocol::Http11);
        assert_eq!(Protocol::from_h1_minor(9), Protocol::Http11);
        let printed = [Protocol::Http10, Protocol::Http11, Protocol::Http2].map(Protocol::as_str);
        assert_eq!(printed, ["HTTP/1.0", "HTTP/1.1", "HTTP/2.0"]);
        assert_eq!(Protocol::default().to_string(), "HTTP/1.1");
    }

    #[test]
    fn only_http10_and_http11_answer_their_own_questions() {
        let all = [Protocol::Http10, Protocol::Http11, Protocol::Http2];
        assert_eq!(all.map(Protocol::is_http10), [true, false, false]);
        assert_eq!(all.map(Protocol::is_http11), [false, true, false]);
    }
}
