//! The password answers of the fleet check's wire client ([`super::wire`]):
//! SCRAM-SHA-256 without channel binding (RFC 5802, RFC 7677) and PostgreSQL's
//! md5. The SCRAM keys are derived once per (password, salt, iteration count)
//! and kept for the whole check ([`KeyCache`]): PostgreSQL gives a role one salt
//! and count, the same in every database of a server, so 200 databases cost one
//! PBKDF2 (4096 HMACs, milliseconds) instead of 200 (what libpq does, once per
//! connection).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::block_api::compress256;
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA-256 of the concatenated `parts`.
fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes a key of any length: this never fails.
    let Ok(mut mac) = <HmacSha256 as KeyInit>::new_from_slice(key) else { return [0; 32] };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// SCRAM's `Hi()`: PBKDF2-HMAC-SHA-256 with one output block.
fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut u = hmac(password, &[salt, &1u32.to_be_bytes()]);
    let mut out = u;
    // The 4095 other HMACs on SHA-256's block function: generic code (the hmac
    // crate over sha2) is compiled into this crate unoptimised in the dev
    // profile `cargo xtask` runs, where the 8192 blocks took 22 ms of CPU; this takes 4.
    let key = if password.len() > 64 { Sha256::digest(password).to_vec() } else { password.to_vec() };
    let pad = |byte: u8| {
        let mut block = [byte; 64];
        block.iter_mut().zip(&key).for_each(|(b, k)| *b ^= k);
        let mut state = SHA256_IV;
        compress256(&mut state, &[block]);
        state
    };
    let (inner, outer) = (pad(0x36), pad(0x5c));
    for _ in 1..iterations {
        u = finish(inner, &u);
        u = finish(outer, &u);
        out.iter_mut().zip(u).for_each(|(o, x)| *o ^= x);
    }
    out
}

/// SHA-256's initial state.
const SHA256_IV: [u32; 8] =
    [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/// The digest of a state that has hashed one 64-byte block, then `tail` (32 bytes) and the padding.
fn finish(mut state: [u32; 8], tail: &[u8; 32]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(tail);
    block[32] = 0x80;
    // The message length in bits: one key block and the tail, 96 bytes.
    block[56..].copy_from_slice(&(96u64 * 8).to_be_bytes());
    compress256(&mut state, &[block]);
    let mut out = [0u8; 32];
    out.chunks_exact_mut(4).zip(state).for_each(|(o, w)| o.copy_from_slice(&w.to_be_bytes()));
    out
}

/// What a SCRAM client needs from the password: the client key and the server key.
#[derive(Clone, Copy)]
pub(crate) struct Keys {
    client: [u8; 32],
    server: [u8; 32],
}

impl Keys {
    fn derive(password: &str, salt: &[u8], iterations: u32) -> Keys {
        let salted = salted_password(password.as_bytes(), salt, iterations);
        Keys { client: hmac(&salted, &[b"Client Key"]), server: hmac(&salted, &[b"Server Key"]) }
    }
}

/// The (password, salt, iterations) a key was derived from.
type KeyId = (String, Vec<u8>, u32);

/// SCRAM keys derived so far in this check, shared by its threads: a key is
/// derived by the first connection that needs it while the others wait for it.
#[derive(Default)]
pub(crate) struct KeyCache {
    keys: Mutex<HashMap<KeyId, Arc<OnceLock<Keys>>>>,
}

impl KeyCache {
    fn keys(&self, password: &str, salt: &[u8], iterations: u32) -> Keys {
        let cell = {
            let mut map = self.keys.lock().unwrap_or_else(|e| e.into_inner());
            map.entry((password.to_string(), salt.to_vec(), iterations)).or_default().clone()
        };
        *cell.get_or_init(|| Keys::derive(password, salt, iterations))
    }

    /// How many keys were derived (one per role and server in a fleet).
    pub(crate) fn derived(&self) -> usize {
        self.keys.lock().unwrap_or_else(|e| e.into_inner()).values().filter(|c| c.get().is_some()).count()
    }
}

/// The most iterations a server may ask for: PostgreSQL's default is 4096; a
/// server asking for millions would make the check a CPU burner.
const MAX_ITERATIONS: u32 = 1 << 20;

/// One SCRAM-SHA-256 exchange, client side, without channel binding (`n,,`).
pub(crate) struct Scram {
    nonce: String,
    first_bare: String,
}

impl Scram {
    /// An exchange for `user` (PostgreSQL's client sends an empty one: the server
    /// takes the startup message's) with a fresh random nonce, `None` when no
    /// random bytes could be read.
    pub(crate) fn new(user: &str) -> Option<Scram> {
        let mut bytes = [0u8; 18];
        std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").ok()?, &mut bytes).ok()?;
        Some(Scram::with_nonce(user, &B64.encode(bytes)))
    }

    fn with_nonce(user: &str, nonce: &str) -> Scram {
        let user = user.replace('=', "=3D").replace(',', "=2C");
        Scram { nonce: nonce.to_string(), first_bare: format!("n={user},r={nonce}") }
    }

    /// The client-first message.
    pub(crate) fn first(&self) -> String {
        format!("n,,{}", self.first_bare)
    }

    /// The client-final message answering `server_first`, and the server
    /// signature the server-final message must carry.
    pub(crate) fn last(
        &self,
        server_first: &str,
        password: &str,
        cache: &KeyCache,
    ) -> Result<(String, [u8; 32]), String> {
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for attr in server_first.split(',') {
            match attr.split_once('=') {
                Some(("r", v)) => nonce = Some(v),
                Some(("s", v)) => salt = Some(B64.decode(v).map_err(|_| "the salt is not base64")?),
                Some(("i", v)) => iterations = v.parse::<u32>().ok(),
                Some(("m", _)) => return Err("the server asks for a SCRAM extension".into()),
                _ => {}
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err("the server's first SCRAM message lacks its nonce, salt or iteration count".into());
        };
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err("the server's SCRAM nonce does not extend the client's".into());
        }
        if iterations == 0 || iterations > MAX_ITERATIONS {
            return Err(format!("the server asks for {iterations} SCRAM iterations"));
        }
        let keys = cache.keys(password, &salt, iterations);
        // "biws" is base64 of the GS2 header "n,,": no channel binding.
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("{},{server_first},{without_proof}", self.first_bare);
        let stored: [u8; 32] = Sha256::digest(keys.client).into();
        let signature = hmac(&stored, &[auth.as_bytes()]);
        let proof: Vec<u8> = keys.client.iter().zip(signature).map(|(k, s)| k ^ s).collect();
        let server_signature = hmac(&keys.server, &[auth.as_bytes()]);
        Ok((format!("{without_proof},p={}", B64.encode(proof)), server_signature))
    }
}

/// Checks the server-final message: the server proves it knows the password too.
pub(crate) fn verify_final(server_final: &str, expected: &[u8; 32]) -> Result<(), String> {
    if let Some(e) = server_final.strip_prefix("e=") {
        return Err(format!("the server ended the SCRAM exchange: {e}"));
    }
    let v = server_final
        .split(',')
        .find_map(|a| a.strip_prefix("v="))
        .ok_or("the server's last SCRAM message has no signature")?;
    match B64.decode(v) {
        Ok(sig) if sig == expected => Ok(()),
        _ => Err("the server's SCRAM signature is wrong: it does not know the password".into()),
    }
}

/// PostgreSQL's md5 answer: `md5` + hex(md5(hex(md5(password + user)) + salt)).
pub(crate) fn md5_answer(user: &str, password: &str, salt: [u8; 4]) -> String {
    let inner = hex(&md5::Md5::digest([password.as_bytes(), user.as_bytes()].concat()));
    let outer = hex(&md5::Md5::digest([inner.as_bytes(), &salt].concat()));
    format!("md5{outer}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677, section 3: the SCRAM-SHA-256 example exchange, byte for byte.
    #[test]
    fn rfc_7677_test_vector() {
        let scram = Scram::with_nonce("user", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(scram.first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let cache = KeyCache::default();
        let (last, server_signature) = scram.last(server_first, "pencil", &cache).unwrap();
        assert_eq!(
            last,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        verify_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", &server_signature).unwrap();
        assert!(verify_final("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", &server_signature).is_err());
        assert!(verify_final("e=invalid-proof", &server_signature).is_err());
        // A second exchange with the same salt and count reuses the derived key.
        let again = Scram::with_nonce("user", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(again.last(server_first, "pencil", &cache).unwrap().0, last);
        assert_eq!(cache.derived(), 1);
        // Another password is another key.
        assert_ne!(again.last(server_first, "pencil2", &cache).unwrap().0, last);
        assert_eq!(cache.derived(), 2);
    }

    /// The block-level loop agrees with HMAC from the hmac crate, for keys
    /// shorter and longer than a block.
    #[test]
    fn pbkdf2_matches_plain_hmac() {
        for password in ["pencil", "", &"x".repeat(64), &"long password ".repeat(9)] {
            let salt = b"some salt";
            let mut u = hmac(password.as_bytes(), &[salt, &1u32.to_be_bytes()]);
            let mut expected = u;
            for _ in 1..50 {
                u = hmac(password.as_bytes(), &[&u]);
                expected.iter_mut().zip(u).for_each(|(o, x)| *o ^= x);
            }
            assert_eq!(salted_password(password.as_bytes(), salt, 50), expected, "{password}");
        }
    }

    #[test]
    fn hostile_server_first_messages_are_refused() {
        let scram = Scram::with_nonce("", "abc");
        let cache = KeyCache::default();
        for bad in [
            "r=abc,s=c2FsdA==,i=4096",          // the nonce not extended
            "r=xyzdef,s=c2FsdA==,i=4096",       // not the client's nonce
            "r=abcdef,s=***,i=4096",            // salt not base64
            "r=abcdef,s=c2FsdA==",              // no count
            "r=abcdef,s=c2FsdA==,i=0",          // zero iterations
            "r=abcdef,s=c2FsdA==,i=4000000000", // a CPU burner
            "m=ext,r=abcdef,s=c2FsdA==,i=4096", // a mandatory extension
        ] {
            assert!(scram.last(bad, "pw", &cache).is_err(), "{bad}");
        }
        assert_eq!(cache.derived(), 0);
        assert!(Scram::new("").unwrap().first().starts_with("n,,n=,r="));
    }

    /// The md5 answer as PostgreSQL computes it (`pg_md5_encrypt` twice): the
    /// stored `md5` + md5(password + user), then md5 of its hex and the salt.
    #[test]
    fn md5_answer_matches_postgresql() {
        let stored = hex(&md5::Md5::digest(b"secretapp"));
        let expected = format!("md5{}", hex(&md5::Md5::digest([stored.as_bytes(), &[1, 2, 3, 4]].concat())));
        assert_eq!(md5_answer("app", "secret", [1, 2, 3, 4]), expected);
        assert_eq!(hex(&md5::Md5::digest(b"")), "d41d8cd98f00b204e9800998ecf8427e");
    }
}
