//! Moving bytes from one TCP socket to another through a pipe, with splice(2): the
//! kernel hands the received pages to the pipe and the pipe's pages to the sending
//! socket, so no byte crosses into user space and back (bench/profiling.md, "1 MiB
//! with splice (issue 24)").
//!
//! A pipe is taken for one relay and given back only empty, so what one relay left in
//! it can never reach another's socket. Each thread keeps a few empty pipes for the
//! next relays: a pipe is two descriptors and a `pipe2` plus an `fcntl`, worth keeping,
//! but kept descriptors count against the open-file limit, so only [`KEPT`].

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::os::fd::OwnedFd;

use rustix::pipe::{self, PipeFlags, SpliceFlags};

use super::net::TcpStream;
use super::source::Dir;

/// Pipe capacity asked for: a 1 MiB body moves in four rounds of reads and writes, not
/// sixteen (the default is 64 KiB). Unprivileged processes may ask up to
/// `/proc/sys/fs/pipe-max-size` (1 MiB by default); a refusal leaves the default.
const CAPACITY: usize = 256 * 1024;

/// Empty pipes each thread keeps for the next relays.
const KEPT: usize = 4;

thread_local! {
    static PIPES: RefCell<Vec<Pipe>> = const { RefCell::new(Vec::new()) };
}

/// Whether this backend splices (it does; `no_splice.rs` says not).
pub const AVAILABLE: bool = true;

/// One pipe, owned by one relay at a time.
pub struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    /// Bytes in the pipe, not yet sent on.
    held: usize,
    capacity: usize,
}

impl Pipe {
    /// An empty pipe: one this thread kept, or a new one.
    pub fn take() -> io::Result<Pipe> {
        if let Some(pipe) = PIPES.with(|p| p.borrow_mut().pop()) {
            return Ok(pipe);
        }
        let (read, write) = pipe::pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
        let capacity = pipe::fcntl_setpipe_size(&write, CAPACITY)
            .or_else(|_| pipe::fcntl_getpipe_size(&write))?;
        Ok(Pipe {
            read,
            write,
            held: 0,
            capacity,
        })
    }

    /// Keeps the pipe for this thread's next relay if it is empty; else closes it (its
    /// bytes belong to a relay that failed).
    pub fn give_back(self) {
        if self.held == 0 {
            PIPES.with(|p| {
                let mut kept = p.borrow_mut();
                if kept.len() < KEPT {
                    kept.push(self);
                }
            });
        }
    }

    /// Bytes in the pipe, waiting for [`drain`](Self::drain).
    pub fn held(&self) -> usize {
        self.held
    }

    /// Moves up to `max` bytes (and what room the pipe has) from `from` into the pipe,
    /// waiting until `from` has some; 0 means `from` reached its end.
    pub async fn fill(&mut self, from: &TcpStream, max: usize) -> io::Result<usize> {
        let len = max.min(self.capacity - self.held);
        let write = &self.write;
        // A short splice does not prove the socket drained (the pipe may have run out
        // of slots first), so only `WouldBlock` clears its readiness: never a wait on
        // an edge that already passed.
        let op = || {
            Ok(pipe::splice(
                from.get_ref(),
                None,
                write,
                None,
                len,
                flags(),
            )?)
        };
        let n = poll_fn(|cx| from.poll_op(cx, Dir::Read, op, |_| false)).await?;
        self.held += n;
        Ok(n)
    }

    /// Moves some of the pipe's bytes into `to`, waiting until `to` takes some.
    pub async fn drain(&mut self, to: &TcpStream) -> io::Result<usize> {
        let (read, len) = (&self.read, self.held);
        let op = || Ok(pipe::splice(read, None, to.get_ref(), None, len, flags())?);
        let n = poll_fn(|cx| to.poll_op(cx, Dir::Write, op, |_| false)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        self.held -= n;
        Ok(n)
    }
}

/// `SPLICE_F_MOVE` (a hint: move pages rather than copy them) and `SPLICE_F_NONBLOCK`
/// (the pipe end never blocks; the sockets are non-blocking already).
fn flags() -> SpliceFlags {
    SpliceFlags::MOVE | SpliceFlags::NONBLOCK
}
