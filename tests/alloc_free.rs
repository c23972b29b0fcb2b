//! What a warm keep-alive request allocates on the proxy's path (issue 24).
//!
//! A counting global allocator wraps the system's. weir runs in this process (one
//! worker thread, as the bench's), with a keep-alive client and an origin that are
//! themselves allocation-free once started (fixed buffers, std sockets), so every
//! allocation counted while the requests run is weir's. After a warm-up, `WINDOWS`
//! windows of `MEASURED` further requests are counted, with the default chain's access
//! log on (to a file; stdout formats the same lines) and with no log. One kind remains, named here and
//! counted exactly, so any new allocation fails the test:
//!
//! - **The boxed exchange future, one per request** (`src/connection.rs`): unboxed, the
//!   exchange's state (about 2 KiB) would be carried by every idle keep-alive
//!   connection's task. Boxing trades one allocation per request (served from
//!   mimalloc's per-thread free list) for that memory. A per-thread pool of reused
//!   slots removes it, but was measured dearer: ~150 more instructions a request than
//!   the allocation and free, or ~780 with the session moved in and out, and more idle
//!   memory either way (bench/profiling.md, round five).
//!
//! (Until weir had its own executor, smol's also allocated a 504-byte `concurrent-queue`
//! block for each 31 task wakes, about one every eight requests; weir's run queues are
//! `VecDeque`s that keep their room: `src/rt/lean_executor.rs`.)
//!
//! The count is process-wide, so work that is not a request's (a pool reaper's
//! periodic wait, a previous test's proxy still stopping) can land in it on a loaded
//! machine. The requests are therefore counted in `WINDOWS` windows and judged by the
//! cleanest: an allocation made per request, or per few requests, shows in every
//! window; background work does not.
//!
//! Set `WEIR_ALLOC_TRACE=1` to print a backtrace of each allocation counted.
//!
//! The counts are those of the default backend (weir's executor over its epoll
//! reactor), which is what weir ships and benchmarks on Linux. The other backends
//! allocate in their reactors per readiness wait (async-io: about 7 per request), so
//! the file is built only for the default one.
#![cfg(all(
    target_os = "linux",
    not(feature = "portable-runtime"),
    not(feature = "tokio-runtime")
))]

mod util;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread;

use weir::config::MiddlewareSpec;

/// Requests before counting: the connection, its pooled upstream connection and every
/// reused buffer are in place by then.
const WARM_UP: usize = 200;
/// Requests counted in each window.
const MEASURED: usize = 100;
/// Windows counted; the cleanest one is judged.
const WINDOWS: usize = 8;

const REQUEST: &[u8] = b"GET /small HTTP/1.1\r\nHost: alloc.test\r\nUser-Agent: t\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static TRACE: AtomicBool = AtomicBool::new(false);
/// Every allocation while counting.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set while this thread prints a traced allocation (which allocates itself).
    static TRACING: Cell<bool> = const { Cell::new(false) };
}

fn counted(size: usize) {
    if !COUNTING.load(Ordering::Relaxed) {
        return;
    }
    if TRACING.get() {
        return;
    }
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    if TRACE.load(Ordering::Relaxed) {
        TRACING.set(true);
        let at = std::backtrace::Backtrace::force_capture();
        eprintln!(
            "allocation of {size} bytes on {:?}:\n{at}",
            thread::current().name()
        );
        TRACING.set(false);
    }
}

// SAFETY: every call is passed on unchanged to the system allocator, which upholds
// `GlobalAlloc`'s contract; the counting touches only atomics and a const thread-local.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted(layout.size());
        // SAFETY: the caller's `layout` contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        counted(layout.size());
        // SAFETY: as `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        counted(new_size);
        // SAFETY: `ptr` came from this allocator (that is, the system's) with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator (that is, the system's) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The tests count process-wide, so they must not overlap.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// An origin answering every request head on every connection with [`RESPONSE`],
/// reading into a fixed buffer: it allocates only when a connection arrives.
fn origin() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            thread::spawn(move || answer(stream));
        }
    });
    addr
}

fn answer(mut stream: TcpStream) {
    let mut buf = [0u8; 4096];
    let mut have = 0;
    loop {
        match stream.read(&mut buf[have..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => have += n,
        }
        // Requests have no body: answer each complete head, keep the rest.
        while let Some(end) = head_end(&buf[..have]) {
            if stream.write_all(RESPONSE).is_err() {
                return;
            }
            buf.copy_within(end..have, 0);
            have -= end;
        }
        if have == buf.len() {
            return;
        }
    }
}

/// Where the head in `bytes` ends (past its empty line), once it is complete.
fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

/// The value of `Content-Length` in `head`, if any.
fn content_length(head: &[u8]) -> Option<usize> {
    head.split(|&b| b == b'\n').find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        let (name, value) = line.split_at(colon);
        if !name.eq_ignore_ascii_case(b"content-length") {
            return None;
        }
        let digits = value[1..].iter().filter(|b| b.is_ascii_digit());
        Some(digits.fold(0, |n, &d| n * 10 + usize::from(d - b'0')))
    })
}

/// A keep-alive client with a fixed buffer: one request, one whole response, no
/// allocation.
struct Client {
    stream: TcpStream,
    buf: [u8; 4096],
}

impl Client {
    fn open(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        Client {
            stream,
            buf: [0; 4096],
        }
    }

    /// Sends [`REQUEST`], reads the response; true if it was a 200 with the body.
    fn request(&mut self) -> bool {
        self.stream.write_all(REQUEST).unwrap();
        let mut have = 0;
        loop {
            let n = self.stream.read(&mut self.buf[have..]).unwrap();
            assert!(n > 0, "the proxy closed the connection");
            have += n;
            let Some(end) = head_end(&self.buf[..have]) else {
                continue;
            };
            let length = content_length(&self.buf[..end]).expect("a Content-Length");
            if have >= end + length {
                assert_eq!(have, end + length, "nothing past the response");
                return self.buf.starts_with(b"HTTP/1.1 200") && &self.buf[end..have] == b"hello";
            }
        }
    }
}

/// What weir allocated for `MEASURED` warm keep-alive requests.
#[derive(Debug)]
struct Allocations {
    all: u64,
}

/// The windows counted for one configuration.
#[derive(Debug)]
struct Windows(Vec<Allocations>);

impl Windows {
    /// The window with the fewest allocations: exactly the boxed exchange per request.
    fn assert_only_the_named_ones(&self) {
        let cleanest = self.0.iter().map(|w| w.all).min().expect("a window");
        assert_eq!(cleanest, MEASURED as u64, "{self:?}");
    }
}

/// Allocations weir makes in each of `WINDOWS` windows of `MEASURED` warm keep-alive
/// requests with `middleware`.
fn allocations_per_run(middleware: Vec<MiddlewareSpec>) -> Windows {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    TRACE.store(
        std::env::var_os("WEIR_ALLOC_TRACE").is_some(),
        Ordering::Relaxed,
    );
    let mut config = util::config(&[origin()]);
    config.threads = 1;
    config.middleware = middleware;
    let proxy = util::start(config);
    let mut client = Client::open(proxy.addr);
    for _ in 0..WARM_UP {
        assert!(client.request());
    }
    let windows = (0..WINDOWS).map(|_| count_window(&mut client)).collect();
    drop(client);
    drop(proxy);
    Windows(windows)
}

/// Counts what `MEASURED` requests on `client` allocate.
fn count_window(client: &mut Client) -> Allocations {
    ALLOCATIONS.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::SeqCst);
    let mut ok = 0;
    for _ in 0..MEASURED {
        ok += usize::from(client.request());
    }
    COUNTING.store(false, Ordering::SeqCst);
    assert_eq!(ok, MEASURED, "every request answered 200");
    Allocations {
        all: ALLOCATIONS.load(Ordering::Relaxed),
    }
}

#[test]
fn a_warm_keep_alive_request_allocates_only_the_named_with_the_access_log_on() {
    let dir = util::bin::temp_dir("alloc-free-log");
    let log = dir.join("access.log");
    let entry = format!(
        "builtin = \"log\"\nconfig = {{ path = {:?} }}\n",
        log.display().to_string()
    );
    let log: MiddlewareSpec = toml::from_str(&entry).unwrap();
    let balancer = MiddlewareSpec {
        builtin: Some("balancer".into()),
        ..Default::default()
    };
    allocations_per_run(vec![log, balancer]).assert_only_the_named_ones();
}

#[test]
fn a_warm_keep_alive_request_allocates_only_the_named_with_no_log() {
    let balancer = MiddlewareSpec {
        builtin: Some("balancer".into()),
        ..Default::default()
    };
    allocations_per_run(vec![balancer]).assert_only_the_named_ones();
}
