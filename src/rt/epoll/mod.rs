//! weir's own reactor for Linux: epoll, edge-triggered, one per runtime thread.
//!
//! Why not async-io's: see `reactor`. The executor stays smol's; only readiness, timers
//! and the thread's blocking loop live here. Everything is safe code over `rustix`.

mod block_on;
mod give_way;
mod net;
mod reactor;
mod source;
mod timer;

pub use block_on::{block_on, end_of_batch};
pub use net::{accept, adopt, bind, connect, pending, readable, TcpListener, TcpStream};
pub use timer::Timer;
