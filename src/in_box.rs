//! [`in_box`]: a future built directly in its heap allocation.
//!
//! A large future (an HTTP/2 stream's task, an HTTP/1.1 request's exchange, several KiB
//! each) goes into a box so its parent or the executor does not carry its size. With
//! `Box::pin(make())` rustc builds the future on the stack, allocates, and copies every
//! byte of it in (callgrind: ~580 instructions for an h2 stream's 5 KiB, ~420 for an
//! exchange's 4 KiB), although a future not yet polled is a few pointers and a state
//! tag. Allocating first and writing into the allocation (`Box::write`, Rust 1.87) lets
//! the compiler store those few fields in place: no copy.

use std::pin::Pin;

/// Allocates, then builds `make()`'s value in the allocation. Inlined so the closure's
/// body is built straight into the box (through a call, the value would be returned on
/// the stack and copied again).
#[inline(always)]
pub(crate) fn in_box<T>(make: impl FnOnce() -> T) -> Pin<Box<T>> {
    Box::into_pin(Box::write(Box::new_uninit(), make()))
}
