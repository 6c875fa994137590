//! PKCS#11 module for Asan İmza SIM cards, `libasan_pkcs11.so`: the card in
//! every application that speaks PKCS#11 — OpenSSL (libp11), OpenSSH, NSS
//! and Firefox, GnuTLS, pkcs11-tool, PDF signers.
//!
//! * [`core`]: the safe core — slots (two per reader: a PIN1 token with the
//!   authentication keys and a PIN2 token with the signing keys), token
//!   information, objects, sessions, PINs and signatures, over the card
//!   library `asan-card` (PC/SC transport, typed card API).
//! * `ffi`: the C ABI (PKCS#11 v2.40 function list, v3.0 interfaces): the
//!   only place with `unsafe` code, confined to checking pointers and
//!   copying in and out; no call unwinds across it.
//!
//! `docs/pkcs11.md` tells how to configure Firefox, OpenSSL, ssh and p11-kit.
#![deny(unsafe_code)]

pub mod core;
mod ffi;
