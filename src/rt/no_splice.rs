//! splice(2) on the backends whose sockets are not weir's own (portable: async-io,
//! tokio): they have no "run this system call when the socket is ready" hook
//! (`poll_op` in the epoll backend), so no pipe is ever given and `http::splice` always
//! takes the copy loop. Same interface as `epoll/splice.rs`; a `Pipe` cannot exist.

use std::io;

use super::TcpStream;

/// Whether this backend splices: checked before a body decides how it is read.
pub const AVAILABLE: bool = false;

/// No pipe: this type has no values.
pub enum Pipe {}

impl Pipe {
    /// Never a pipe here: the caller copies.
    pub fn take() -> io::Result<Pipe> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub fn give_back(self) {
        match self {}
    }

    pub fn held(&self) -> usize {
        match *self {}
    }

    pub async fn fill(&mut self, _from: &TcpStream, _max: usize) -> io::Result<usize> {
        match *self {}
    }

    pub async fn drain(&mut self, _to: &TcpStream) -> io::Result<usize> {
        match *self {}
    }
}
