//! The connection task's size bounds.

use super::*;

/// The size of the future `f` returns, without calling it.
fn future_size<A, B, C, F: Future>(_: impl FnOnce(A, B, C) -> F) -> usize {
    std::mem::size_of::<F>()
}

/// Every idle keep-alive connection's task holds this future, whatever state it is
/// in (bench/profiling.md, "Idle keep-alive connection: where the bytes go"). With
/// the h2c server inline it was 4,480 bytes in a debug build (4.8 KiB a task in
/// release); 1,512 for `serve` alone with it boxed; the whole task 1,560 with each
/// value held once (`accepted`), 1,200 with the idle wait hand-written (`IdleWait`),
/// 1,192 without the seat's `Arc<Ask>`; 960 with `rt::timeout` a struct that holds
/// the wrapped future once (1,224 before it); 1,024 at the start of round four
/// (bench/profiling.md); with the client session made before the task's future
/// (`Start`: no second socket, peer or listener id beside it) and the idle wait's
/// timer made with it, 776: with the task's 64-byte header and guard, in mimalloc's
/// 896-byte class (1,088 bytes in the 1,280 class before). Boxing the head's read
/// with the exchange made it 704, still the 896 class, but that future was built
/// beside its box and copied in, ~420 instructions a request (bench/profiling.md,
/// round five). 640 in round six: the head parsed from the idle wait's bytes (only a
/// partial head waits, boxed), the exchange and the error reply one boxed future
/// awaited outside the `match` on the head, the drain's grace wait boxed, the idle
/// read's futures without an `async fn`'s second `self`, and `Conn`'s loan boxed; with
/// the 64 bytes of header and guard, 704, in mimalloc's 768-byte class
/// (bench/profiling.md, "Idle connections, round six"). 568 in round seven: the
/// session's per-request state (reply buffer, body decoder, flags, HTTP version) in a
/// box parked with the scratch; with the header, schedule and guard (64), 632. The
/// 640-byte class needs that margin: mimalloc serves an aligned request (Rust's
/// `GlobalAlloc` always asks for one) that its size class's current page cannot serve
/// by over-allocating `size + align - 1`, so a 640-byte task went to the 768 class
/// and the class edge is 633 (bench/profiling.md, "Idle connections, round seven").
/// 520 with the idle wait reading the stop signal's flag (the drain wakes listed waits
/// through the idle list) instead of polling a pinned wait on it; 512 with the epoll
/// timer's deadline a `u64`, then 528 with the idle waits' timer kept by `requests`
/// across its requests and moved on by each wait (the epoll backend's `Timer::reset`:
/// no timer filed and cancelled a request), which the wait and `idle` now borrow. The
/// bound is that figure, so any growth is looked at; the class edge is 568.
/// The bound is the default backend's; the portable and tokio backends' sockets and
/// timers are larger (1,032 bytes on the portable one before round four), so they
/// keep the earlier 1,280.
#[test]
fn the_connection_future_carries_no_rarely_used_state() {
    let task = future_size(accepted);
    eprintln!("connection task future: {task} bytes");
    let bound = if rt::DEFAULT_BACKEND { 528 } else { 1280 };
    assert!(task <= bound, "{task} bytes");
}

/// The exchange of one HTTP/1.x request, kept off the idle task (see `requests`):
/// its size is what each request's future occupies while it runs. 5,352 bytes in
/// a debug build while `rt::timeout` stored each wrapped future twice, 4,064 since.
#[test]
fn the_exchange_future_stays_small() {
    let exchange = future_size(exchange::exchange::<Downstream>);
    eprintln!("HTTP/1.x exchange future: {exchange} bytes");
    assert!(exchange <= 4608, "{exchange} bytes");
}

/// A connection task that panics inside `catch_unwind` (as listeners.rs spawns
/// it) still lets a drain end and the active-connections gauge fall: `Held` is
/// dropped while the panic unwinds, not only at the task's normal end.
#[test]
fn a_panicking_connection_task_still_gives_back_what_it_held() {
    use std::panic::AssertUnwindSafe;
    use std::sync::atomic::Ordering;

    use futures_lite::FutureExt;

    use crate::metrics::Metrics;

    let metrics = Arc::new(Metrics::default());
    let (busy, drained) = crate::shutdown::wait_group();
    let held = Held {
        busy,
        counted: metrics.connection(),
        open: crate::open_clients::Counted::new(),
        peer: ([127, 0, 0, 1], 9).into(),
    };
    let task = async move {
        let _ = &held;
        std::future::ready(()).await;
        panic!("a bug in a connection task");
    };
    let caught = futures_lite::future::block_on(AssertUnwindSafe(task).catch_unwind());
    assert!(caught.is_err());
    assert_eq!(metrics.connections_active.load(Ordering::Relaxed), 0);
    let wait = futures_lite::future::poll_once(drained.wait());
    assert!(
        futures_lite::future::block_on(wait).is_some(),
        "no Busy is left"
    );
}
