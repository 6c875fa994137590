//! The operator's side of GlobalPlatform SCP03 (primitives from the applet
//! crate): open a channel, verify the card cryptogram, and run the operator
//! commands — PINs, retry limits, key pairs, certificates, service,
//! activation, termination, key sets.

use asan_applet::scp03::host::HostChannel;
use asan_applet::scp03::{ScpError, SecurityLevel, StaticKeys};
use asan_applet::wire::{cla, ins, p};
use asan_applet::{CertificateFid, KeyRef, PinBlock, PinRef, Service};
use p256::PublicKey;

use crate::apdu::Apdus;
use crate::card::{check, parse_public_key};
use crate::error::{Error, Result};

/// Plain bytes per part of a wrapped chain: padded to 240, plus an 8-byte
/// C-MAC, fits a short APDU.
const PART: usize = 224;

fn channel_error(what: &str, e: ScpError) -> Error {
    Error::SecureChannel(format!("{what}: {e}"))
}

/// An open SCP03 channel over the APDUs of one transaction.
pub struct Operator<'a, 'b> {
    apdus: &'a mut Apdus<'b>,
    channel: HostChannel,
    extended: bool,
}

impl std::fmt::Debug for Operator<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator")
            .field("level", &self.channel.level())
            .finish_non_exhaustive()
    }
}

impl<'a, 'b> Operator<'a, 'b> {
    /// INITIALIZE UPDATE with a random host challenge, verification of the
    /// card cryptogram (a mismatch means wrong keys: nothing more is sent),
    /// EXTERNAL AUTHENTICATE at `level`.
    pub fn open(
        apdus: &'a mut Apdus<'b>,
        keys: &StaticKeys,
        level: SecurityLevel,
        extended: bool,
    ) -> Result<Self> {
        let mut host_challenge = [0u8; 8];
        getrandom::fill(&mut host_challenge)
            .map_err(|e| Error::SecureChannel(format!("no randomness: {e}")))?;
        let init = HostChannel::initialize_update_apdu(keys.kvn, &host_challenge);
        let r = apdus.send_raw(&init)?;
        match r.sw {
            0x9000 => {}
            0x6A88 => {
                return Err(Error::SecureChannel(format!(
                    "the card has no SCP03 key set with version {:02X}",
                    keys.kvn
                )));
            }
            0x6985 => {
                return Err(Error::SecureChannel(
                    "the card refuses a secure channel (terminated?)".into(),
                ));
            }
            sw => {
                return Err(Error::Status {
                    command: "INITIALIZE UPDATE",
                    sw,
                });
            }
        }
        let (channel, external) = HostChannel::open(keys, &host_challenge, &r.data, level)
            .map_err(|e| match e {
                ScpError::BadCryptogram => Error::SecureChannel(
                    "the card cryptogram does not match: these are not this card's keys; stopping"
                        .into(),
                ),
                ScpError::KeyVersionMismatch => {
                    Error::SecureChannel("the card answered with another key version".into())
                }
                e => channel_error("INITIALIZE UPDATE answer", e),
            })?;
        let r = apdus.send_raw(&external)?;
        if r.sw != 0x9000 {
            return Err(Error::SecureChannel(format!(
                "EXTERNAL AUTHENTICATE answered {:04X}",
                r.sw
            )));
        }
        Ok(Self {
            apdus,
            channel,
            extended,
        })
    }

    /// The card's SCP03 sequence counter of this session.
    pub fn sequence_counter(&self) -> u32 {
        let [a, b, c] = self.channel.sequence_counter();
        u32::from_be_bytes([0, a, b, c])
    }

    /// Sends one command through the channel (one extended APDU, or a chain
    /// of short ones); returns the plain answer data and the status word.
    pub fn send(
        &mut self,
        header: [u8; 4],
        data: &[u8],
        le: Option<usize>,
    ) -> Result<(Vec<u8>, u16)> {
        let parts: Vec<&[u8]> = if data.len() <= PART || self.extended {
            vec![data]
        } else {
            data.chunks(PART).collect()
        };
        let last = parts.len().saturating_sub(1);
        // With R-MAC every answer, a chain's intermediate ones too, carries
        // data (the MAC): asking for it with Le saves the GET RESPONSE a
        // `6108` would need.
        let rmac = self.channel.level().r_mac();
        let le_of = |i: usize| match le {
            None if rmac => Some(256),
            _ if i < last => None,
            le => le,
        };
        for (i, part) in parts.iter().enumerate() {
            let mut hdr = header;
            if i < last {
                hdr[0] |= cla::CHAIN;
            }
            let mut capdu = vec![0u8; part.len() + 64];
            let n = self
                .channel
                .wrap_command(hdr, part, le_of(i), &mut capdu)
                .map_err(|e| channel_error("wrapping", e))?;
            capdu.truncate(n);
            let r = self.apdus.send_raw(&capdu)?;
            let mut plain = vec![0u8; r.data.len() + 16];
            let m = self
                .channel
                .unwrap_response(&r.data, r.sw, &mut plain)
                .map_err(|e| channel_error("the card's answer fails its R-MAC", e))?;
            plain.truncate(m);
            if i == last || r.sw != 0x9000 {
                return Ok((plain, r.sw));
            }
        }
        Err(Error::Usage("empty command".into()))
    }

    fn ok(
        &mut self,
        command: &'static str,
        header: [u8; 4],
        data: &[u8],
        le: Option<usize>,
    ) -> Result<Vec<u8>> {
        let (d, sw) = self.send(header, data, le)?;
        check(command, sw, None)?;
        Ok(d)
    }

    /// Sets a PIN or PUK value (life cycle `03`; needs a level with C-DECRYPTION).
    pub fn set_pin(&mut self, pin: PinRef, value: &PinBlock) -> Result<()> {
        self.ok(
            "set PIN",
            [0x80, ins::RESET_RETRY_COUNTER, p::SET_PIN_VALUE, pin.byte()],
            value.as_bytes(),
            None,
        )
        .map(|_| ())
    }

    /// Sets a retry limit 1–15 (life cycle `03`).
    pub fn set_retry_limit(&mut self, pin: PinRef, limit: u8) -> Result<()> {
        self.ok(
            "set retry limit",
            [0x80, ins::PUT_DATA, p::PUT_RETRY_LIMIT, pin.byte()],
            &[limit],
            None,
        )
        .map(|_| ())
    }

    /// Generates a key pair on the card (replacing the old one and deleting
    /// its certificate); returns the public key.
    pub fn generate_key(&mut self, key: KeyRef) -> Result<PublicKey> {
        let d = self.ok(
            "generate key pair",
            [
                0x80,
                ins::GENERATE_ASYMMETRIC_KEY_PAIR,
                p::KEY_GENERATE,
                key.byte(),
            ],
            &[],
            Some(256),
        )?;
        parse_public_key(&d)
    }

    /// Writes (atomically replaces) a certificate; empty `der` deletes it.
    pub fn write_certificate(&mut self, key: KeyRef, der: &[u8]) -> Result<()> {
        let [p1, p2] = CertificateFid(key).bytes();
        self.ok(
            "write certificate",
            [0x80, ins::PUT_DATA, p1, p2],
            der,
            None,
        )
        .map(|_| ())
    }

    /// Sets the service type and state.
    pub fn set_service(&mut self, service: Service) -> Result<()> {
        let [p1, p2] = p::PUT_SERVICE;
        self.ok(
            "set service",
            [0x80, ins::PUT_DATA, p1, p2],
            &service.bytes(),
            None,
        )
        .map(|_| ())
    }

    /// Life cycle `03` → `05`.
    pub fn activate(&mut self) -> Result<()> {
        self.ok("activate", [0x80, ins::ACTIVATE, 0, 0], &[], None)
            .map(|_| ())
    }

    /// Life cycle → `0F`, for good.
    pub fn terminate(&mut self) -> Result<()> {
        self.ok("terminate", [0x80, ins::TERMINATE, 0, 0], &[], None)
            .map(|_| ())
    }

    /// Replaces the card's SCP03 key set (keys encrypted under the current
    /// K-DEK, with check values); verifies the check values the card returns.
    pub fn put_key(&mut self, current: &StaticKeys, new: &StaticKeys) -> Result<()> {
        use asan_applet::scp03::crypto::{aes_cbc_encrypt_zero_iv, key_check_value};
        let mut data = zeroize::Zeroizing::new(vec![new.kvn]);
        let mut expected = vec![new.kvn];
        for key in [&new.enc, &new.mac, &new.dek] {
            let mut enc = zeroize::Zeroizing::new(*key);
            aes_cbc_encrypt_zero_iv(&current.dek, enc.as_mut())
                .map_err(|e| channel_error("PUT KEY", e))?;
            data.extend_from_slice(&[0x88, 0x11, 0x10]);
            data.extend_from_slice(enc.as_ref());
            data.push(3);
            let kcv = key_check_value(key);
            data.extend_from_slice(&kcv);
            expected.extend_from_slice(&kcv);
        }
        let answer = self.ok(
            "PUT KEY",
            [0x80, ins::PUT_KEY, current.kvn, p::PUT_KEY_P2],
            &data,
            Some(256),
        )?;
        if answer != expected {
            return Err(Error::SecureChannel(
                "PUT KEY: the card's key check values differ".into(),
            ));
        }
        Ok(())
    }
}
