use super::*;

/// A client body in fixed pieces, as a connection's reads would hand it out.
struct Pieces {
    pieces: Vec<Vec<u8>>,
    at: usize,
}

impl Pieces {
    fn new(pieces: &[&[u8]]) -> Self {
        let pieces = pieces.iter().map(|p| p.to_vec()).collect();
        Pieces { pieces, at: 0 }
    }
}

impl Source for Pieces {
    async fn piece(&mut self) -> Result<&[u8], CopyError> {
        while self.pieces.first().is_some_and(|p| self.at == p.len()) {
            self.pieces.remove(0);
            self.at = 0;
        }
        Ok(self.pieces.first().map_or(&[][..], |p| &p[self.at..]))
    }

    fn consume(&mut self, n: usize) {
        self.at += n;
    }
}

/// Takes at most `most` bytes a piece (an h2 window), `limit` bytes in all.
fn send(body: &mut Replay<Pieces>, most: usize, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    futures_lite::future::block_on(async {
        while out.len() < limit {
            let piece = body.piece().await.unwrap();
            if piece.is_empty() {
                break;
            }
            let n = piece.len().min(most).min(limit - out.len());
            out.extend_from_slice(&piece[..n]);
            body.consume(n);
        }
    });
    out
}

#[test]
fn a_rewound_body_replays_what_was_sent_then_goes_on_live() {
    let src = Pieces::new(&[b"hello ", b"wide ", b"world"]);
    let mut body = Replay::new(src, Kept::new(64, Body::Chunked));
    assert_eq!(send(&mut body, 4, 8), b"hello wi");
    assert!(body.kept().rewind());
    assert_eq!(send(&mut body, 3, usize::MAX), b"hello wide world");
}

#[test]
fn a_second_rewind_replays_the_whole_body_again() {
    let mut body = Replay::new(
        Pieces::new(&[b"abc", b"def"]),
        Kept::new(16, Body::Length(6)),
    );
    assert_eq!(send(&mut body, 2, 3), b"abc");
    assert!(body.kept().rewind());
    assert_eq!(send(&mut body, 5, 4), b"abcd");
    assert!(body.kept().rewind());
    assert_eq!(send(&mut body, 1, usize::MAX), b"abcdef");
}

#[test]
fn past_the_bound_the_copy_is_dropped_and_nothing_replays() {
    let mut body = Replay::new(Pieces::new(&[b"0123456789"]), Kept::new(8, Body::Chunked));
    assert_eq!(send(&mut body, 6, 6), b"012345");
    assert!(body.kept().may_replay());
    assert_eq!(send(&mut body, 6, 4), b"6789");
    assert!(!body.kept().may_replay());
    assert!(!body.kept().rewind());
    assert_eq!(
        body.kept().bytes.capacity(),
        0,
        "the copy's memory is given back"
    );
}

#[test]
fn a_declared_length_over_the_bound_is_never_copied() {
    let mut body = Replay::new(
        Pieces::new(&[b"0123456789"]),
        Kept::new(8, Body::Length(10)),
    );
    assert!(
        body.kept().rewind(),
        "nothing used yet: resendable as before"
    );
    assert_eq!(send(&mut body, 2, 2), b"01");
    assert_eq!(body.kept().bytes.capacity(), 0);
    assert!(!body.kept().rewind());
}

#[test]
fn empty_bodies_and_a_zero_bound_allocate_nothing() {
    for kept in [Kept::new(64, Body::Empty), Kept::new(0, Body::Chunked)] {
        let mut body = Replay::new(Pieces::new(&[b"abc"]), kept);
        assert_eq!(send(&mut body, 8, usize::MAX), b"abc");
        assert_eq!(body.kept().bytes.capacity(), 0);
        assert!(!body.kept().rewind());
    }
}

#[test]
fn a_body_exactly_at_the_bound_is_kept() {
    let mut body = Replay::new(
        Pieces::new(&[b"abcd", b"efgh"]),
        Kept::new(8, Body::Chunked),
    );
    assert_eq!(send(&mut body, 8, usize::MAX), b"abcdefgh");
    assert!(body.kept().rewind());
    assert_eq!(send(&mut body, 8, usize::MAX), b"abcdefgh");
}
