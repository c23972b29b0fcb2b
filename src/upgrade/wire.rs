//! The handover message: every listening socket in one `sendmsg`, the descriptors as
//! `SCM_RIGHTS` and beside them a line per socket naming its addresses, in the same order:
//! `ADDR LOCAL` (the address as configured, which stays `:0` for port 0, and the one
//! bound). The receiver gets its own descriptors (close-on-exec), never numbers to trust.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use rustix::net::{
    recvmsg, sendmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

/// The kernel's cap on descriptors in one message (`SCM_MAX_FD`).
pub const MAX_SOCKETS: usize = 253;

/// Room for the text part: a line of two addresses per socket.
const TEXT_ROOM: usize = MAX_SOCKETS * 128;

/// A listening socket with the address it was configured as and the one it is bound to.
pub struct Passed {
    pub named: SocketAddr,
    pub local: SocketAddr,
    pub socket: TcpListener,
}

impl Passed {
    /// Another descriptor for the same socket.
    pub fn try_clone(&self) -> io::Result<Passed> {
        Ok(Passed {
            named: self.named,
            local: self.local,
            socket: self.socket.try_clone()?,
        })
    }
}

/// Sends `sockets` over `to` in one message.
pub fn send(to: &UnixStream, sockets: &[Passed]) -> io::Result<()> {
    if sockets.len() > MAX_SOCKETS {
        let why = format!(
            "{} listening sockets; at most {MAX_SOCKETS} can be handed over",
            sockets.len()
        );
        return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
    }
    let text: String = sockets
        .iter()
        .map(|p| format!("{} {}\n", p.named, p.local))
        .collect();
    let fds: Vec<_> = sockets.iter().map(|p| p.socket.as_fd()).collect();
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len().max(1)))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(io::Error::other(
            "descriptors do not fit the control buffer",
        ));
    }
    // At least one byte, so that an empty list still arrives as a message.
    let text = if text.is_empty() {
        "\n".to_string()
    } else {
        text
    };
    let sent = sendmsg(
        to,
        &[IoSlice::new(text.as_bytes())],
        &mut control,
        SendFlags::empty(),
    )?;
    match sent == text.len() {
        true => Ok(()),
        false => Err(io::Error::other("the handover message was cut short")),
    }
}

/// Receives the message [`send`] sent.
pub fn receive(from: &UnixStream) -> io::Result<Vec<Passed>> {
    let mut text = vec![0u8; TEXT_ROOM];
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_SOCKETS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = recvmsg(
        from,
        &mut [IoSliceMut::new(&mut text)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    if got.bytes == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the old process sent nothing",
        ));
    }
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(passed) = message {
            fds.extend(passed);
        }
    }
    let text = String::from_utf8_lossy(&text[..got.bytes]);
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    if lines.len() != fds.len() {
        let why = format!("{} addresses for {} descriptors", lines.len(), fds.len());
        return Err(io::Error::new(io::ErrorKind::InvalidData, why));
    }
    lines
        .into_iter()
        .zip(fds)
        .map(|(line, fd)| parse(line, TcpListener::from(fd)))
        .collect()
}

fn parse(line: &str, socket: TcpListener) -> io::Result<Passed> {
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad handover line {line:?}"),
        )
    };
    let (named, local) = line.split_once(' ').ok_or_else(bad)?;
    Ok(Passed {
        named: named.parse().map_err(|_| bad())?,
        local: local.parse().map_err(|_| bad())?,
        socket,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_cross_a_unix_socket_with_their_addresses() {
        let (a, b) = UnixStream::pair().unwrap();
        let socket = TcpListener::bind("127.0.0.1:0").unwrap();
        let local = socket.local_addr().unwrap();
        let named = "127.0.0.1:0".parse().unwrap();
        send(
            &a,
            &[Passed {
                named,
                local,
                socket,
            }],
        )
        .unwrap();
        let got = receive(&b).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].named, got[0].local), (named, local));
        // The received descriptor is the same listening socket.
        assert_eq!(got[0].socket.local_addr().unwrap(), local);
        let _client = std::net::TcpStream::connect(local).unwrap();
        got[0].socket.accept().unwrap();
    }
}
