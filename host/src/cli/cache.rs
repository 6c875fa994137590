//! What the command line remembers about the cards it has seen, per reader:
//! the public key of each key used and the certificate that goes with it,
//! so that an authentication over PC/SC needs neither GET PUBLIC KEY nor a
//! certificate read (three APDUs on the wire: SELECT, VERIFY, INTERNAL
//! AUTHENTICATE).
//!
//! Nothing here is trusted: a cached key is only *expected*
//! ([`crate::AsanCard::expect_public_key`]); the card's signature must
//! verify with it, and when it does not the card's own key is read and
//! the entry replaced. A cached certificate is used only when its public
//! key is the key that verified the card's signature. The file holds no
//! secret (public keys and certificates), is written whole (temporary
//! file and rename, mode 0600), and anything wrong with it — absent,
//! unreadable, damaged — is an empty cache.
//!
//! `ASAN_CACHE_DIR` chooses the directory (`off` disables the cache);
//! otherwise `$XDG_CACHE_HOME/asan` or `~/.cache/asan`.

use std::path::PathBuf;

use asan_applet::KeyRef;
use p256::PublicKey;
use serde::{Deserialize, Serialize};

/// The most entries kept (the most recently used).
const MAX_ENTRIES: usize = 64;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    entries: Vec<Entry>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Entry {
    /// The reader (or virtual card) the card was in.
    card: String,
    /// The key reference byte.
    key: u8,
    /// SEC1 uncompressed point, hex.
    public_key: String,
    /// The certificate's DER, hex, when known.
    certificate: Option<String>,
}

/// The cache, loaded.
#[derive(Debug)]
pub struct CardCache {
    path: Option<PathBuf>,
    file: CacheFile,
}

fn directory() -> Option<PathBuf> {
    match std::env::var_os("ASAN_CACHE_DIR") {
        Some(d) if d == "off" => None,
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => std::env::var_os("XDG_CACHE_HOME")
            .filter(|d| !d.is_empty())
            .map(|d| PathBuf::from(d).join("asan"))
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("asan"))
            }),
    }
}

impl CardCache {
    /// The cache file of this user; empty when there is none (or it cannot
    /// be read).
    pub fn load() -> Self {
        let path = directory().map(|d| d.join("cards.json"));
        let file = path
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice::<CacheFile>(&b).ok())
            .filter(|f| f.version == 1)
            .unwrap_or_default();
        Self { path, file }
    }

    fn find(&self, card: &str, key: KeyRef) -> Option<&Entry> {
        self.file
            .entries
            .iter()
            .find(|e| e.card == card && e.key == key.byte())
    }

    /// The public key last seen for `key` of the card in `card`.
    pub fn public_key(&self, card: &str, key: KeyRef) -> Option<PublicKey> {
        let e = self.find(card, key)?;
        PublicKey::from_sec1_bytes(&hex::decode(&e.public_key).ok()?).ok()
    }

    /// The certificate cached for `key`, only when its public key is
    /// `confirmed` (the key that verified the card's signature).
    pub fn certificate(&self, card: &str, key: KeyRef, confirmed: &PublicKey) -> Option<Vec<u8>> {
        let der = hex::decode(self.find(card, key)?.certificate.as_ref()?).ok()?;
        certifies(&der, confirmed).then_some(der)
    }

    /// Remembers `public` (confirmed by the card) and, when it certifies
    /// that key, `certificate`.
    pub fn store(
        &mut self,
        card: &str,
        key: KeyRef,
        public: &PublicKey,
        certificate: Option<&[u8]>,
    ) {
        let certificate = certificate
            .filter(|der| certifies(der, public))
            .map(hex::encode);
        self.file
            .entries
            .retain(|e| !(e.card == card && e.key == key.byte()));
        self.file.entries.insert(
            0,
            Entry {
                card: card.to_owned(),
                key: key.byte(),
                public_key: hex::encode(public.to_sec1_bytes()),
                certificate,
            },
        );
        self.file.entries.truncate(MAX_ENTRIES);
    }

    /// Writes the cache back; a cache that cannot be written is no error
    /// (it only saves APDUs).
    pub fn save(&mut self) {
        let Some(path) = &self.path else {
            return;
        };
        self.file.version = 1;
        let Ok(bytes) = serde_json::to_vec_pretty(&self.file) else {
            return;
        };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = crate::files::write_private(path, &bytes);
    }
}

/// Whether certificate `der` is for `public`.
fn certifies(der: &[u8], public: &PublicKey) -> bool {
    crate::cert::parse(der).is_ok_and(|c| {
        PublicKey::from_sec1_bytes(&crate::cert::public_key_bytes(&c)).ok() == Some(*public)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(n: u8) -> PublicKey {
        let secret = p256::SecretKey::from_slice(&[n; 32]).unwrap();
        secret.public_key()
    }

    #[test]
    fn entries_are_per_card_and_key_and_bounded() {
        let mut c = CardCache {
            path: None,
            file: CacheFile::default(),
        };
        let k = KeyRef::DEFAULT_AUTHENTICATION;
        c.store("reader A", k, &key(1), None);
        c.store("reader B", k, &key(2), None);
        assert_eq!(c.public_key("reader A", k), Some(key(1)));
        assert_eq!(c.public_key("reader B", k), Some(key(2)));
        assert_eq!(c.public_key("reader A", KeyRef::DEFAULT_SIGNING), None);
        c.store("reader A", k, &key(3), None);
        assert_eq!(c.public_key("reader A", k), Some(key(3)));
        assert_eq!(c.file.entries.len(), 2);
        for i in 0..100u8 {
            c.store(&format!("r{i}"), k, &key(i.max(1)), None);
        }
        assert_eq!(c.file.entries.len(), MAX_ENTRIES);
        // A certificate that is not a certificate is not kept.
        c.store("reader A", k, &key(1), Some(b"not DER"));
        assert_eq!(c.certificate("reader A", k, &key(1)), None);
    }
}
