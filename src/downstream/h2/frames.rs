//! Frame boundaries in an HTTP/2 byte stream that passes in pieces of any size: the
//! 9-byte frame headers are gathered, payloads skipped without a copy. The guard walks
//! the client's bytes with one (what the client sends) and weir's own with another
//! (how many DATA frames weir sent, which earns the client its WINDOW_UPDATEs).

/// The length of an HTTP/2 frame header (RFC 9113 §4.1).
pub(super) const FRAME_HEAD: usize = 9;

/// Where a walk through a byte stream stands.
pub(super) struct Frames {
    /// Bytes of a preface or of the current frame's payload still to pass.
    pub skip: usize,
    /// The frame header being gathered, `have` bytes of it so far.
    head: [u8; FRAME_HEAD],
    pub have: usize,
}

impl Frames {
    /// A walk that first passes `preface` bytes (the client's connection preface).
    pub fn after(preface: usize) -> Self {
        Frames {
            skip: preface,
            head: [0; FRAME_HEAD],
            have: 0,
        }
    }

    /// The next complete frame header in `bytes`, taking from `bytes` what it passed;
    /// `None` once `bytes` ran out. After a header, `skip` is its payload's length.
    pub fn next(&mut self, bytes: &mut &[u8]) -> Option<[u8; FRAME_HEAD]> {
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                *bytes = &bytes[n..];
                continue;
            }
            let n = (FRAME_HEAD - self.have).min(bytes.len());
            self.head[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            *bytes = &bytes[n..];
            if self.have < FRAME_HEAD {
                return None;
            }
            self.have = 0;
            let h = self.head;
            self.skip = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
            return Some(h);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_header_across_pieces_and_skips_payloads() {
        let mut stream = b"PRI".to_vec();
        for (kind, len) in [(4u8, 6usize), (0, 3), (8, 4)] {
            stream.extend(&(len as u32).to_be_bytes()[1..]);
            stream.extend([kind, 0, 0, 0, 0, 1]);
            stream.extend(vec![0xAA; len]);
        }
        for piece in [1, 2, 5, 64] {
            let mut walk = Frames::after(3);
            let mut kinds = Vec::new();
            for mut chunk in stream.chunks(piece) {
                while let Some(h) = walk.next(&mut chunk) {
                    kinds.push(h[3]);
                }
            }
            assert_eq!(kinds, vec![4, 0, 8], "pieces of {piece}");
        }
    }
}
