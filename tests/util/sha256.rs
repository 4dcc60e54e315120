//! SHA-256 of test data, from the `sha2` crate (RustCrypto; already in the tree for the
//! tunnel's secret), so content is compared by hash in-process.

use sha2::{Digest, Sha256};

/// The SHA-256 of `data` as lowercase hex.
pub fn hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where two byte strings first differ: the offset of the first unequal byte, or the
/// shorter one's length when one is a prefix of the other; `None` when they are equal.
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => Some(i),
        None if a.len() != b.len() => Some(a.len().min(b.len())),
        None => None,
    }
}

#[test]
fn known_vectors() {
    assert_eq!(
        hex(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn first_difference_finds_the_offset() {
    assert_eq!(first_difference(b"abc", b"abc"), None);
    assert_eq!(first_difference(b"abc", b"abd"), Some(2));
    assert_eq!(first_difference(b"ab", b"abc"), Some(2));
    assert_eq!(first_difference(b"", b"x"), Some(0));
}
