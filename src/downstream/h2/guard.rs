//! What weir bounds on an HTTP/2 connection beyond the `h2` crate: frame floods and
//! header blocks that never end.
//!
//! The `h2` crate bounds what costs it memory (CONTINUATION frames per header block,
//! the decoded header list, streams reset before they are accepted, one pending PING
//! and SETTINGS answer at a time) but not what costs weir CPU: a client may send
//! PINGs, SETTINGS, PRIORITY, WINDOW_UPDATE, RST_STREAM or empty DATA frames as fast as
//! it likes and h2 answers or processes each. [`Guard`] watches the decrypted inbound
//! bytes as they pass to h2, reading only the 9-byte frame headers (no payload copy, no
//! allocation per frame), and counts each kind over `http2.flood_window`, as nginx,
//! HAProxy and Envoy do. A count past its bound trips the connection: the reader stops
//! feeding h2, wakes the connection task, and that task sends GOAWAY
//! `ENHANCE_YOUR_CALM` ([`close`]).
//!
//! It also bounds header blocks in time (`timeouts.header`, as for HTTP/1.1 heads):
//! from the connection's start until its first request's headers are complete, and from
//! any later HEADERS frame until the END_HEADERS that closes its block, a frame header
//! or header block left unfinished trips the connection (GOAWAY `NO_ERROR`). h2 alone
//! would hold such a connection until `timeouts.idle`.

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::server::Connection;
use h2::Reason;

use super::compat::Io;
use super::frames::Frames;
use crate::config::Http2;
use crate::metrics::{Metrics, H2_GUARD_KINDS};
use crate::rt;

/// Why a connection was closed by the guard. The first six are counted floods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Trip {
    Resets = 1,
    Pings,
    Settings,
    Priority,
    WindowUpdates,
    EmptyData,
    SlowHeaders,
}

/// Counted kinds: `Trip as usize - 1` indexes the counts.
const KINDS: usize = 6;
const ALL: [Trip; 7] = [
    Trip::Resets,
    Trip::Pings,
    Trip::Settings,
    Trip::Priority,
    Trip::WindowUpdates,
    Trip::EmptyData,
    Trip::SlowHeaders,
];

impl Trip {
    /// The name logs and metrics use.
    pub(crate) fn as_str(self) -> &'static str {
        H2_GUARD_KINDS[self as usize - 1]
    }
}

/// The length of the client preface.
const PREFACE: usize = 24;
/// WINDOW_UPDATEs a client may send per DATA frame weir sent, beyond
/// `http2.max_window_updates`: two are what a client that answers every frame sends.
const UPDATES_PER_DATA_FRAME: u32 = 4;
const DATA: u8 = 0x0;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;

/// Shared between the reader and the connection task: why it tripped, if it has.
#[derive(Default)]
pub(super) struct Alarm(AtomicU8);

impl Alarm {
    pub fn tripped(&self) -> Option<Trip> {
        let v = self.0.load(Ordering::Acquire);
        ALL.into_iter().find(|t| *t as u8 == v)
    }
}

/// The frame counter inside the connection's reader.
pub(super) struct Guard {
    bounds: [u32; KINDS],
    window: Duration,
    header_time: Duration,
    counts: [u32; KINDS],
    window_start: Instant,
    /// The client's bytes: its preface, then its frames.
    inbound: Frames,
    /// weir's own bytes to the client, for the DATA frames it sent.
    outbound: Frames,
    /// DATA frames with a payload weir sent in the current window: each lets the
    /// client send [`UPDATES_PER_DATA_FRAME`] more WINDOW_UPDATEs.
    data_sent: u32,
    /// The type of the frame whose payload is passing.
    current: u8,
    /// A header block is open (see the module docs).
    in_block: bool,
    /// Runs while a header block is open; made once per block that spans reads.
    slow: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    alarm: Arc<Alarm>,
}

impl Guard {
    pub fn new(h2: &Http2, header_time: Duration) -> Self {
        let control = h2.max_control_frames;
        Guard {
            bounds: [
                h2.max_resets,
                control,
                control,
                control,
                h2.max_window_updates,
                h2.max_empty_data,
            ],
            window: h2.flood_window,
            header_time,
            counts: [0; KINDS],
            window_start: Instant::now(),
            inbound: Frames::after(PREFACE),
            outbound: Frames::after(0),
            data_sent: 0,
            current: 0,
            in_block: true,
            slow: None,
            alarm: Arc::default(),
        }
    }

    pub fn tripped(&self) -> bool {
        self.alarm.tripped().is_some()
    }

    pub fn alarm(&self) -> Arc<Alarm> {
        self.alarm.clone()
    }

    /// Looks at what a read of the connection gave (`read` is the buffer it filled) and
    /// passes it on, or holds the reader for good once the connection has tripped.
    pub fn after_read(
        &mut self,
        cx: &mut Context<'_>,
        read: &[u8],
        polled: Poll<std::io::Result<usize>>,
    ) -> Poll<std::io::Result<usize>> {
        let mut trip = match &polled {
            Poll::Ready(Ok(n)) => self.scan(&read[..*n]),
            _ => None,
        };
        if trip.is_none() {
            trip = self.poll_slow(cx);
        }
        match trip {
            Some(t) => {
                self.alarm.0.store(t as u8, Ordering::Release);
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            None => polled,
        }
    }

    /// Walks the frame headers in `bytes`; the first bound passed, if any.
    fn scan(&mut self, mut bytes: &[u8]) -> Option<Trip> {
        let mut now = None;
        while let Some(h) = self.inbound.next(&mut bytes) {
            self.current = h[3];
            if let Some(trip) = self.frame(h[3], h[4], &mut now) {
                return Some(trip);
            }
        }
        None
    }

    /// Notes what weir wrote to the client (`bytes`, as h2 framed them): the DATA
    /// frames that earn the client window updates.
    pub fn after_write(&mut self, mut bytes: &[u8]) {
        while let Some(h) = self.outbound.next(&mut bytes) {
            if h[3] == DATA && self.outbound.skip > 0 {
                self.data_sent = self.data_sent.saturating_add(1);
            }
        }
    }

    /// Counts one frame of type `kind`; `Some` if that passes its bound.
    fn frame(&mut self, kind: u8, flags: u8, now: &mut Option<Instant>) -> Option<Trip> {
        let counted = match kind {
            DATA if self.inbound.skip == 0 && flags & END_STREAM == 0 => Trip::EmptyData,
            HEADERS => {
                self.in_block = flags & END_HEADERS == 0;
                return None;
            }
            CONTINUATION => {
                self.in_block &= flags & END_HEADERS == 0;
                return None;
            }
            2 => Trip::Priority,
            3 => Trip::Resets,
            4 => Trip::Settings,
            6 => Trip::Pings,
            8 => Trip::WindowUpdates,
            _ => return None,
        };
        let now = *now.get_or_insert_with(Instant::now);
        if now.duration_since(self.window_start) >= self.window {
            self.counts = [0; KINDS];
            self.data_sent = 0;
            self.window_start = now;
        }
        let i = counted as usize - 1;
        self.counts[i] += 1;
        (self.counts[i] > self.bound(counted)).then_some(counted)
    }

    /// How many frames of `kind` a window allows: its setting, and for WINDOW_UPDATE
    /// also what the DATA weir sent calls for (a client answers each DATA frame with up
    /// to two, one for the stream and one for the connection; Envoy's
    /// `max_inbound_window_update_frames_per_data_frame_sent` is 10).
    fn bound(&self, kind: Trip) -> u32 {
        let base = self.bounds[kind as usize - 1];
        match kind {
            Trip::WindowUpdates => {
                base.saturating_add(self.data_sent.saturating_mul(UPDATES_PER_DATA_FRAME))
            }
            _ => base,
        }
    }

    /// A header block, or a frame header, started and not finished.
    fn header_pending(&self) -> bool {
        let header_frame = self.inbound.skip > 0 && matches!(self.current, HEADERS | CONTINUATION);
        self.in_block || header_frame || self.inbound.have > 0
    }

    /// Runs the header clock while a header block is open.
    fn poll_slow(&mut self, cx: &mut Context<'_>) -> Option<Trip> {
        if !self.header_pending() {
            self.slow = None;
            return None;
        }
        let t = self.header_time;
        let slow = self.slow.get_or_insert_with(|| Box::pin(rt::sleep(t)));
        slow.as_mut()
            .poll(cx)
            .is_ready()
            .then_some(Trip::SlowHeaders)
    }
}

/// Longest the GOAWAY of a tripped connection gets to leave before it is dropped.
const FLUSH: Duration = Duration::from_secs(1);

/// Closes a tripped connection: counted, logged (at most a line a second, see
/// [`log`]), GOAWAY (which resets its open streams, so their upstream requests are
/// cancelled), then the connection is dropped.
pub(super) async fn close(
    conn: &mut Connection<Io, Bytes>,
    trip: Trip,
    peer: SocketAddr,
    metrics: &Metrics,
) {
    metrics.h2_guard_closes[trip as usize - 1].fetch_add(1, Ordering::Relaxed);
    let reason = match trip {
        Trip::SlowHeaders => Reason::NO_ERROR,
        _ => Reason::ENHANCE_YOUR_CALM,
    };
    log(peer, trip, reason);
    conn.abrupt_shutdown(reason);
    let _ = rt::timeout(FLUSH, poll_fn(|cx| conn.poll_closed(cx))).await;
}

/// Shortest interval between two log lines of the guard: a flood of connections that
/// trip it must not flood the log.
const LOG_EVERY: Duration = Duration::from_secs(1);

/// When the guard last logged, and how many closes it has not logged since.
static LOGGED: Mutex<(Option<Instant>, u64)> = Mutex::new((None, 0));

fn log(peer: SocketAddr, trip: Trip, reason: Reason) {
    let mut logged = LOGGED.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    if logged.0.is_some_and(|t| now.duration_since(t) < LOG_EVERY) {
        logged.1 += 1;
        return;
    }
    let unsaid = std::mem::take(&mut logged.1);
    logged.0 = Some(now);
    let what = match trip {
        Trip::SlowHeaders => "left a header block unfinished past timeouts.header".into(),
        t => format!("sent a {} flood (past its [http2] bound)", t.as_str()),
    };
    let more = match unsaid {
        0 => String::new(),
        n => format!(" ({n} more closed since the last line)"),
    };
    eprintln!("weir: HTTP/2 client {peer} {what}; GOAWAY {reason:?}, connection closed{more}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(bound: u32) -> Guard {
        let h2 = Http2 {
            max_control_frames: bound,
            max_resets: bound,
            max_empty_data: bound,
            max_window_updates: bound,
            flood_window: Duration::from_secs(60),
            ..Http2::default()
        };
        let mut g = Guard::new(&h2, Duration::from_secs(60));
        g.inbound.skip = 0;
        g
    }

    fn frame(kind: u8, flags: u8, len: usize) -> Vec<u8> {
        let mut f = (len as u32).to_be_bytes()[1..].to_vec();
        f.extend([kind, flags, 0, 0, 0, 1]);
        f.extend(vec![0; len]);
        f
    }

    #[test]
    fn counts_each_kind_against_its_bound_across_split_reads() {
        let mut g = guard(2);
        let pings: Vec<u8> = (0..3).flat_map(|_| frame(6, 0, 8)).collect();
        // One byte at a time: frame headers split across reads are still seen.
        let trips: Vec<_> = pings.chunks(1).filter_map(|c| g.scan(c)).collect();
        assert_eq!(trips, vec![Trip::Pings]);
    }

    #[test]
    fn each_data_frame_sent_earns_window_updates() {
        let mut g = guard(2);
        let sent: Vec<u8> = (0..10).flat_map(|_| frame(DATA, 0, 16)).collect();
        g.after_write(&sent[..7]);
        g.after_write(&sent[7..]);
        let updates = frame(8, 0, 4);
        let allowed = 2 + 10 * UPDATES_PER_DATA_FRAME;
        for i in 0..allowed {
            assert_eq!(g.scan(&updates), None, "update {i}");
        }
        assert_eq!(g.scan(&updates), Some(Trip::WindowUpdates));
    }

    #[test]
    fn empty_data_counts_only_without_end_stream() {
        let mut g = guard(1);
        assert_eq!(g.scan(&frame(0, END_STREAM, 0)), None);
        assert_eq!(g.scan(&frame(0, END_STREAM, 0)), None);
        assert_eq!(g.scan(&frame(0, 0, 5)), None);
        assert_eq!(g.scan(&frame(0, 0, 0)), None);
        assert_eq!(g.scan(&frame(0, 0, 0)), Some(Trip::EmptyData));
    }

    #[test]
    fn a_header_block_is_open_until_end_headers() {
        let mut g = guard(1);
        assert!(g.header_pending(), "no request yet");
        g.scan(&frame(HEADERS, 0, 3));
        assert!(g.header_pending());
        g.scan(&frame(CONTINUATION, END_HEADERS, 3));
        assert!(!g.header_pending());
        let partial = frame(HEADERS, END_HEADERS, 10);
        g.scan(&partial[..12]);
        assert!(g.header_pending(), "its payload has not all arrived");
        g.scan(&partial[12..]);
        assert!(!g.header_pending());
    }
}
