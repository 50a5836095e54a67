//! Content digests: the identity of modules, artifacts and snapshots.
//! Written `sha256:<64 lowercase hex>` everywhere Weir shows or stores one;
//! a spec may pin one without the prefix or in upper case.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A sha256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

/// Text that is not a sha256 digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a sha256 digest (64 hex digits, optionally prefixed 'sha256:')")]
pub struct BadDigest(pub String);

impl Digest {
    pub const PREFIX: &'static str = "sha256:";

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Digest(Sha256::digest(bytes).into())
    }

    /// `sha256:<hex>` or bare hex, either case.
    pub fn parse(text: &str) -> Result<Self, BadDigest> {
        let hex = text.strip_prefix(Self::PREFIX).unwrap_or(text);
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex, &mut bytes).map_err(|_| BadDigest(text.to_string()))?;
        Ok(Digest(bytes))
    }

    /// Lowercase hex, without the prefix: the name of a stored blob.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", Self::PREFIX, self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Digest {
    type Err = BadDigest;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Digest::parse(text)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_reads_with_or_without_its_prefix_in_either_case_and_shows_one_form() {
        let digest = Digest::of(b"bytes");
        let hex = digest.hex();
        for text in [
            digest.to_string(),
            hex.clone(),
            hex.to_ascii_uppercase(),
            format!("sha256:{}", hex.to_ascii_uppercase()),
        ] {
            assert_eq!(Digest::parse(&text), Ok(digest), "{text}");
        }
        assert_eq!(digest.to_string(), format!("sha256:{hex}"));
        let json = serde_json::to_string(&digest).unwrap();
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), digest);
    }

    #[test]
    fn anything_else_is_refused_by_name() {
        for text in [
            "",
            "sha256:",
            "abc",
            "sha512:00",
            &"g".repeat(64),
            &"0".repeat(66),
        ] {
            let err = Digest::parse(text).unwrap_err();
            assert!(err.to_string().contains("is not a sha256 digest"), "{err}");
        }
    }
}
