//! `-C`: line ends in local input (and an `--exec-each` child's output)
//! become CRLF on the way to a socket.

use bytes::Bytes;

/// `-C`: `\n` becomes `\r\n` (a `\n` already after `\r` is left alone).
#[derive(Default)]
pub struct Crlf {
    prev_cr: bool,
}

impl Crlf {
    pub fn apply(&mut self, chunk: Bytes) -> Bytes {
        let mut prev = self.prev_cr;
        let needs = chunk.iter().any(|&b| {
            let lone = b == b'\n' && !prev;
            prev = b == b'\r';
            lone
        });
        if !needs {
            self.prev_cr = prev;
            return chunk;
        }
        let mut out = Vec::with_capacity(chunk.len() + chunk.len() / 8 + 1);
        for &b in chunk.iter() {
            if b == b'\n' && !self.prev_cr {
                out.push(b'\r');
            }
            out.push(b);
            self.prev_cr = b == b'\r';
        }
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_across_chunks() {
        let mut c = Crlf::default();
        assert_eq!(&c.apply(Bytes::from_static(b"a\nb"))[..], b"a\r\nb");
        assert_eq!(&c.apply(Bytes::from_static(b"x\r"))[..], b"x\r");
        assert_eq!(&c.apply(Bytes::from_static(b"\ny\n\n"))[..], b"\ny\r\n\r\n");
        assert_eq!(&c.apply(Bytes::from_static(b"plain"))[..], b"plain");
    }
}
