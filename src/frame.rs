//! Fields of one length-prefixed message, shared by the probe's and the
//! tunnel's control protocols: a 4-byte big-endian body length, a type
//! byte, then big-endian fields. Every read is length-checked, so a short
//! or garbled body is an error, never a panic.

// A build with the tunnel alone uses fewer field kinds than the probe.
#![cfg_attr(not(feature = "probe"), allow(dead_code))]

/// Builds a message: `finish` fills in the length.
pub struct Out {
    buf: Vec<u8>,
    /// Longest text a `str` field carries (longer text is cut).
    max_text: usize,
}

impl Out {
    pub fn new(t: u8, max_text: usize) -> Out {
        Out {
            buf: vec![0, 0, 0, 0, t],
            max_text: max_text.min(u16::MAX as usize),
        }
    }
    pub fn u8(mut self, v: u8) -> Out {
        self.buf.push(v);
        self
    }
    pub fn u16(self, v: u16) -> Out {
        self.bytes(&v.to_be_bytes())
    }
    pub fn u32(self, v: u32) -> Out {
        self.bytes(&v.to_be_bytes())
    }
    pub fn u64(self, v: u64) -> Out {
        self.bytes(&v.to_be_bytes())
    }
    pub fn bytes(mut self, b: &[u8]) -> Out {
        self.buf.extend_from_slice(b);
        self
    }
    /// A u16 length, then the text, cut at a character boundary to
    /// `max_text` bytes to keep frames small.
    pub fn str(self, s: &str) -> Out {
        let mut end = s.len().min(self.max_text);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.u16(end as u16).bytes(&s.as_bytes()[..end])
    }
    pub fn finish(mut self) -> Vec<u8> {
        let len = (self.buf.len() - 4) as u32;
        self.buf[..4].copy_from_slice(&len.to_be_bytes());
        self.buf
    }
}

/// Reads fields from a body, checking every length.
pub struct In<'a>(pub &'a [u8]);

impl<'a> In<'a> {
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("message too short for its type".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    pub fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    pub fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    pub fn bool(&mut self) -> Result<bool, String> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(format!("bad boolean {b}")),
        }
    }
    pub fn str(&mut self) -> Result<String, String> {
        let n = self.u16()? as usize;
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
    /// The body must be used up.
    pub fn end(&self) -> Result<(), String> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} unexpected bytes after the message",
                self.0.len()
            ))
        }
    }
}
