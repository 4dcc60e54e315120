//! The optional shared secret: HMAC-SHA256 over fresh random challenges.
//! The inside end proves it holds the secret on every connection (control
//! and data); the relay proves it too, so an impostor relay cannot make the
//! inside end dial its service.
//!
//! Without the `secret` feature, [`Secret`] has no values: the command line
//! rejects `--secret`, and every `Option<Secret>` is `None`.

use super::proto::{Mac, Nonce, NONCE};

/// What each MAC covers, besides two challenges: a label naming its role
/// (so one side's proof is never valid as the other's) and a client id (0
/// for the control connection). Relay and Login cover both sides'
/// challenges of their connection; Accept covers the fresh challenge the
/// relay sent in that client's Conn (given as both), so a data connection
/// needs no challenge round trip of its own.
#[derive(Debug, Clone, Copy)]
pub enum Role {
    /// The relay's answer to the inside end's challenge.
    Relay,
    /// The inside end's Login on the control connection.
    Login,
    /// The inside end's Accept on a data connection.
    Accept,
}

#[cfg_attr(not(feature = "secret"), allow(dead_code))]
impl Role {
    fn label(self) -> &'static [u8] {
        match self {
            Role::Relay => b"netcrab tunnel 1 relay",
            Role::Login => b"netcrab tunnel 1 login",
            Role::Accept => b"netcrab tunnel 1 accept",
        }
    }
}

/// A fresh random challenge. An error when the OS has no randomness: a
/// predictable challenge would let a recorded answer be replayed.
pub fn nonce() -> Result<Nonce, String> {
    let mut n = [0u8; NONCE];
    getrandom::fill(&mut n).map_err(|e| format!("no random numbers from the OS: {e}"))?;
    Ok(n)
}

#[cfg(feature = "secret")]
mod imp {
    use super::*;
    use hmac::{Hmac, Mac as _};
    use sha2::Sha256;

    type HmacSha256 = Hmac<Sha256>;

    /// The shared secret (bytes, as given).
    pub struct Secret(Vec<u8>);

    impl Secret {
        pub fn from_bytes(b: Option<Vec<u8>>) -> Option<Secret> {
            b.map(Secret)
        }

        fn hmac(&self, role: Role, inside: &Nonce, relay: &Nonce, id: u64) -> Option<HmacSha256> {
            // HMAC takes a key of any length, so this never fails.
            let mut m = HmacSha256::new_from_slice(&self.0).ok()?;
            m.update(role.label());
            m.update(inside);
            m.update(relay);
            m.update(&id.to_be_bytes());
            Some(m)
        }

        /// The MAC for `role` over the inside end's and the relay's challenge.
        pub fn sign(&self, role: Role, inside: &Nonce, relay: &Nonce, id: u64) -> Mac {
            match self.hmac(role, inside, relay, id) {
                Some(m) => m.finalize().into_bytes().into(),
                None => [0; 32],
            }
        }

        /// Whether `mac` is right (compared in constant time).
        pub fn check(&self, role: Role, inside: &Nonce, relay: &Nonce, id: u64, mac: &Mac) -> bool {
            self.hmac(role, inside, relay, id)
                .is_some_and(|m| m.verify_slice(mac).is_ok())
        }
    }
}

#[cfg(not(feature = "secret"))]
mod imp {
    use super::*;

    /// No values: this build has no secrets.
    pub enum Secret {}

    impl Secret {
        pub fn from_bytes(_: Option<Vec<u8>>) -> Option<Secret> {
            None
        }
        pub fn sign(&self, _: Role, _: &Nonce, _: &Nonce, _: u64) -> Mac {
            match *self {}
        }
        pub fn check(&self, _: Role, _: &Nonce, _: &Nonce, _: u64, _: &Mac) -> bool {
            match *self {}
        }
    }
}

pub use imp::Secret;

#[cfg(all(test, feature = "secret"))]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2() {
        // HMAC-SHA256 with key "Jefe" over "what do ya want for nothing?":
        // checks the crates are wired as HMAC-SHA256 (RFC 4231, test case 2).
        use hmac::{Hmac, Mac as _};
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(b"Jefe").unwrap();
        m.update(b"what do ya want for nothing?");
        let hex: String = m
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn macs_depend_on_everything() {
        let s = Secret::from_bytes(Some(b"k".to_vec())).unwrap();
        let other = Secret::from_bytes(Some(b"K".to_vec())).unwrap();
        let (i, r) = ([1; NONCE], [2; NONCE]);
        let m = s.sign(Role::Accept, &i, &r, 7);
        assert!(s.check(Role::Accept, &i, &r, 7, &m));
        assert!(!other.check(Role::Accept, &i, &r, 7, &m));
        assert!(!s.check(Role::Login, &i, &r, 7, &m));
        assert!(!s.check(Role::Accept, &r, &i, 7, &m));
        assert!(!s.check(Role::Accept, &i, &r, 8, &m));
        assert!(!s.check(Role::Accept, &i, &[3; NONCE], 7, &m));
    }
}
