//! CURVE key types (X25519), with Z85 text forms (RFC 32).

use std::fmt;
use std::str::FromStr;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::random::{OsRandom, Random};
use crate::z85::{self, Z85Error};

/// A CURVE public key: 32 bytes, or 40 characters of Z85.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

/// A CURVE secret key. Its `Debug` output never shows the key, its bytes are
/// wiped when it is dropped (so a freed key does not linger in memory), and
/// `==` compares in constant time.
#[derive(Clone)]
pub struct SecretKey(pub [u8; 32]);

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for SecretKey {}

impl Zeroize for SecretKey {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SecretKey {}

/// A public and secret key pair.
#[derive(Clone, Debug)]
pub struct KeyPair {
    /// The public half, given to peers.
    pub public: PublicKey,
    /// The secret half.
    pub secret: SecretKey,
}

impl PublicKey {
    /// The key's 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 40-character Z85 form.
    pub fn to_z85(&self) -> String {
        z85::encode(&self.0).unwrap_or_default()
    }
}

impl SecretKey {
    /// The key's 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 40-character Z85 form.
    pub fn to_z85(&self) -> String {
        z85::encode(&self.0).unwrap_or_default()
    }

    /// The matching public key (X25519 base-point multiplication, as
    /// `zmq_curve_public`).
    pub fn public_key(&self) -> PublicKey {
        let sk = crypto_box::SecretKey::from(self.0);
        PublicKey(*sk.public_key().as_bytes())
    }
}

impl KeyPair {
    /// A fresh key pair from the operating system's random source.
    pub fn generate() -> Self {
        Self::generate_with(&OsRandom)
    }

    /// A fresh key pair from `random` (a seeded source, in tests).
    pub fn generate_with(random: &dyn Random) -> Self {
        let mut secret = [0u8; 32];
        random.fill(&mut secret);
        let pair = Self::from_secret(SecretKey(secret));
        secret.zeroize();
        pair
    }

    /// The key pair whose secret half is `secret`.
    pub fn from_secret(secret: SecretKey) -> Self {
        Self {
            public: secret.public_key(),
            secret,
        }
    }
}

impl FromStr for PublicKey {
    type Err = Z85Error;
    fn from_str(s: &str) -> Result<Self, Z85Error> {
        z85::decode_key(s).map(Self)
    }
}

impl FromStr for SecretKey {
    type Err = Z85Error;
    fn from_str(s: &str) -> Result<Self, Z85Error> {
        z85::decode_key(s).map(Self)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_z85())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_z85())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zmq_curve_man_page_test_keys() {
        let client_secret: SecretKey = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs".parse().unwrap();
        let client_public: PublicKey = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID".parse().unwrap();
        assert_eq!(client_secret.public_key(), client_public);
        let server_secret: SecretKey = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6".parse().unwrap();
        assert_eq!(
            server_secret.public_key().to_z85(),
            "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
        );
    }

    #[test]
    fn generated_pairs_match() {
        let kp = KeyPair::generate();
        assert_eq!(kp.secret.public_key(), kp.public);
        assert_eq!(kp.public.to_z85().len(), 40);
        assert!(!format!("{:?}", kp.secret).contains(&kp.secret.to_z85()));
    }
}
