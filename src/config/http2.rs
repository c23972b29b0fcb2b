//! `[http2]`: the bounds an HTTP/2 client connection lives under (README "HTTP/2",
//! the limits table, sets them beside nginx's and HAProxy's equivalents).
//!
//! The flood bounds count frames of one kind per connection over a fixed window
//! (`flood_window`, one second by default), as nginx and Envoy count them: a client
//! past one gets GOAWAY `ENHANCE_YOUR_CALM` and is closed. Legitimate clients send a
//! handful of these frames per second; the defaults leave a wide margin.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;

/// `[http2]`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Http2 {
    /// Streams one connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS).
    pub max_concurrent_streams: u32,
    /// The window the flood bounds below count over.
    #[serde(with = "duration")]
    pub flood_window: Duration,
    /// RST_STREAM frames from the client per window (rapid reset, CVE-2023-44487).
    pub max_resets: u32,
    /// PING, SETTINGS and PRIORITY frames per window, each kind counted on its own.
    pub max_control_frames: u32,
    /// WINDOW_UPDATE frames per window.
    pub max_window_updates: u32,
    /// DATA frames with no payload that do not end their stream, per window.
    pub max_empty_data: u32,
}

impl Default for Http2 {
    fn default() -> Self {
        Http2 {
            max_concurrent_streams: 100,
            flood_window: Duration::from_secs(1),
            max_resets: 100,
            max_control_frames: 100,
            max_window_updates: 1000,
            max_empty_data: 100,
        }
    }
}

impl Http2 {
    /// The first key whose value cannot work, with why.
    pub fn problem(&self) -> Option<(&'static str, &'static str)> {
        let counts = [
            ("http2.max_concurrent_streams", self.max_concurrent_streams),
            ("http2.max_resets", self.max_resets),
            ("http2.max_control_frames", self.max_control_frames),
            ("http2.max_window_updates", self.max_window_updates),
            ("http2.max_empty_data", self.max_empty_data),
        ];
        if let Some((key, _)) = counts.iter().find(|(_, n)| *n == 0) {
            return Some((key, "must be at least 1"));
        }
        if self.flood_window.is_zero() {
            return Some(("http2.flood_window", "must be greater than 0"));
        }
        None
    }
}
