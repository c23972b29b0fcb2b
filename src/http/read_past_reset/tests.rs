use std::io::Write;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::rt;

/// The server's side of a loopback connection, and weir's side in a [`ReadPastReset`].
async fn pair() -> (std::net::TcpStream, ReadPastReset<rt::TcpStream>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let weir = rt::connect(listener.local_addr().unwrap()).await.unwrap();
    let (server, _) = listener.accept().unwrap();
    (server, ReadPastReset::new(weir))
}

/// Writes until one meets the reset (those before it are real writes into the socket
/// buffer, for the reset may not have landed yet): that one, too, is taken as written.
async fn write_until_reset(conn: &mut ReadPastReset<rt::TcpStream>) {
    for _ in 0..1000 {
        assert_eq!(conn.write(b"frame").await.unwrap(), 5);
        if let Writes::Reset(_) = conn.writes {
            return;
        }
        rt::sleep(Duration::from_millis(1)).await;
    }
    panic!("no write met the reset");
}

#[test]
fn a_write_that_meets_a_reset_leaves_what_the_server_sent_to_read_then_the_reset() {
    rt::Runtime::new().block_on(1, async {
        let (mut server, mut conn) = pair().await;
        server.write_all(b"goaway").unwrap();
        rustix::net::sockopt::set_socket_linger(&server, Some(Duration::ZERO)).unwrap();
        drop(server); // SO_LINGER 0: the close is a reset

        write_until_reset(&mut conn).await;
        // Later writes and flushes are dropped quietly; the reads tell.
        assert_eq!(conn.write(b"more").await.unwrap(), 4);
        conn.flush().await.unwrap();

        let mut buf = [0; 64];
        assert_eq!(conn.read(&mut buf).await.unwrap(), 6);
        assert_eq!(&buf[..6], b"goaway");
        let reset = conn.read(&mut buf).await.unwrap_err();
        assert_eq!(reset.kind(), io::ErrorKind::ConnectionReset, "{reset}");
    });
}

#[test]
fn a_clean_close_reads_as_one() {
    rt::Runtime::new().block_on(1, async {
        let (mut server, mut conn) = pair().await;
        server.write_all(b"bye").unwrap();
        drop(server);
        let mut buf = [0; 64];
        assert_eq!(conn.read(&mut buf).await.unwrap(), 3);
        assert_eq!(conn.read(&mut buf).await.unwrap(), 0);
    });
}
