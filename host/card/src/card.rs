//! The typed card API: PINs, authentication, signatures, public keys,
//! certificates and card information, over any [`Transport`].

use asan_applet::wire::{data_object, ins, p, tag};
use asan_applet::{CertificateProfile, KeyRef, KeyUsage, PinRef};
use p256::PublicKey;
use x509_cert::Certificate;

use crate::apdu::{Apdus, Command, Response};
use crate::error::{Error, Result};
use crate::info::{self, CardInfo, PinsInfo};
use crate::pin::{AnyPin, Puk, Secret};
use crate::transport::{Exchange, Transport};
use crate::{cert, tlv};

mod signing;

pub use signing::{ATTEMPTS, Interference};

/// A raw ECDSA P-256 signature, `r || s`.
pub type RawSignature = [u8; 64];

/// Turns a status word into a typed error. `pin` names the PIN a `63Cx` or
/// `6983` is about.
pub fn check(command: &'static str, sw: u16, pin: Option<PinRef>) -> Result<()> {
    match (sw, pin) {
        (0x9000, _) => Ok(()),
        (0x63C0..=0x63CF, Some(pin)) => Err(Error::WrongPin {
            pin,
            tries_left: (sw & 0x0F) as u8,
        }),
        (0x6983, Some(pin)) => Err(Error::Blocked { pin }),
        (0x6982, _) => Err(Error::SecurityStatusNotSatisfied),
        (0x6985, _) => Err(Error::ConditionsNotSatisfied(match command {
            "INTERNAL AUTHENTICATE" | "PSO: COMPUTE DIGITAL SIGNATURE" | "MSE: SET" => {
                "the service is suspended, does not allow this profile, or the card is not operational".to_owned()
            }
            _ => format!("{command} is not allowed in the card's present state"),
        })),
        (0x6A82 | 0x6A88, _) => Err(Error::NotFound(command.to_owned())),
        _ => Err(Error::Status { command, sw }),
    }
}

/// Checks the status word of a command that answers no data, and that no
/// data came (data there is an out-of-order or hostile answer).
pub fn check_empty(command: &'static str, r: &Response, pin: Option<PinRef>) -> Result<()> {
    check(command, r.sw, pin)?;
    if r.data.is_empty() {
        Ok(())
    } else {
        Err(Error::InvalidResponse(format!(
            "{command} answered {} bytes of data where none belong",
            r.data.len()
        )))
    }
}

/// Receives one line per APDU exchanged (PIN blocks shown as `***`).
pub type Trace = Box<dyn FnMut(&str) + Send>;

/// An Asan İmza card, its applet selected.
pub struct AsanCard<T: Transport> {
    transport: T,
    trace: Option<Trace>,
    /// The keys MSE has selected in this card session, as far as we know:
    /// authentication, signing. Reset to the Citizen keys by our SELECT.
    selected: [KeyRef; 2],
    /// Public keys signatures are checked against (shared readers only).
    public_keys: Vec<(KeyRef, PublicKey)>,
    /// Keys whose public key came from the caller (a cache, a
    /// certificate), not from the card: confirmed by the card on mismatch.
    expected: Vec<KeyRef>,
    /// What other programs did that we recovered from, not yet taken.
    interference: Vec<Interference>,
    /// The APDU contract version the card's FCI states (major, minor).
    contract: (u8, u8),
}

impl<T: Transport> std::fmt::Debug for AsanCard<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsanCard")
            .field("card", &self.transport.name())
            .finish_non_exhaustive()
    }
}

impl<T: Transport> AsanCard<T> {
    /// SELECTs the applet on `transport`.
    pub fn open(transport: T) -> Result<Self> {
        Self::open_traced(transport, None)
    }

    /// SELECTs the applet on `transport`, logging every APDU (the SELECT
    /// too) to `trace`.
    pub fn open_traced(transport: T, trace: Option<Trace>) -> Result<Self> {
        let mut card = Self {
            transport,
            trace,
            selected: [KeyRef::DEFAULT_AUTHENTICATION, KeyRef::DEFAULT_SIGNING],
            public_keys: Vec::new(),
            expected: Vec::new(),
            interference: Vec::new(),
            contract: (1, 0),
        };
        match card.transport.connect_select() {
            // The transport found the card by this very SELECT: take its
            // answer rather than sending another.
            Some((capdu, rapdu)) => {
                if let Some(t) = card.trace.as_mut() {
                    t(&format!("> {}", hex::encode_upper(&capdu)));
                    t(&format!("< {}", hex::encode_upper(&rapdu)));
                }
                let (data, sw) = crate::apdu::split_sw(&rapdu)?;
                card.selected_answer(data, sw)?;
            }
            None => card.select()?,
        }
        Ok(card)
    }

    /// Logs every APDU to `trace` (PIN blocks shown as `***`).
    pub fn set_trace(&mut self, trace: Option<Trace>) {
        self.trace = trace;
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The transport, mutable.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Gives the transport back.
    pub fn into_transport(self) -> T {
        self.transport
    }

    /// Sends one command outside a transaction.
    pub fn send(&mut self, cmd: &Command<'_>) -> Result<Response> {
        let extended = self.transport.extended_length();
        let trace = self
            .trace
            .as_mut()
            .map(|t| t.as_mut() as &mut dyn FnMut(&str));
        Apdus::new(&mut self.transport, extended, trace).send(cmd)
    }

    /// Runs `f` inside one PC/SC transaction, so that no other program's
    /// commands come between (VERIFY and the signature it authorises).
    pub fn exclusive<R>(&mut self, mut f: impl FnMut(&mut Apdus<'_>) -> Result<R>) -> Result<R> {
        let extended = self.transport.extended_length();
        let mut out = None;
        let trace = &mut self.trace;
        self.transport.exclusive(&mut |ex: &mut dyn Exchange| {
            let t = trace.as_mut().map(|t| t.as_mut() as &mut dyn FnMut(&str));
            let mut apdus = Apdus::new(ex, extended, t);
            out = Some(f(&mut apdus)?);
            Ok(())
        })?;
        out.ok_or_else(|| Error::Transport("the transaction did not run".into()))
    }

    /// SELECT of the applet (clears the card's security status).
    pub fn select(&mut self) -> Result<()> {
        let r = self.send(
            &Command::new([0x00, ins::SELECT, p::SELECT_BY_NAME, p::SELECT_RETURN_FCI])
                .data(&asan_applet::wire::AID)
                .le(0),
        )?;
        self.selected_answer(&r.data, r.sw)
    }

    /// Takes in the answer to a SELECT of the applet: the contract version
    /// its FCI states; the MSE selection back at the Citizen keys.
    fn selected_answer(&mut self, fci: &[u8], sw: u16) -> Result<()> {
        match sw {
            0x9000 => {}
            0x6A82 => return Err(Error::NoCard("the card has no Asan İmza applet".into())),
            sw => {
                return Err(Error::Status {
                    command: "SELECT",
                    sw,
                });
            }
        }
        self.selected = [KeyRef::DEFAULT_AUTHENTICATION, KeyRef::DEFAULT_SIGNING];
        self.contract = info::contract_in_fci(fci)?;
        Ok(())
    }

    /// The APDU contract version the card states in its FCI (major, minor):
    /// `(1, 1)` for a card with PSO: CDS carrying its own PIN2, `(1, 0)`
    /// for an older card (or one whose SELECT answers no FCI).
    pub fn contract_version(&self) -> (u8, u8) {
        self.contract
    }

    /// GET DATA of one object; returns its value.
    pub fn get_data(&mut self, object: u8) -> Result<Vec<u8>> {
        let r = self.send(&Command::new([0x00, ins::GET_DATA, 0x00, object]).le(0))?;
        check("GET DATA", r.sw, None)?;
        Ok(tlv::expect(&r.data, u16::from(object))?.to_vec())
    }

    /// Serial, life cycle, service, PIN counters, keys (GET DATA `6E`).
    ///
    /// # Example
    ///
    /// ```
    /// use asan_card::{AsanCard, transport::virtual_card::VirtualTransport};
    /// # fn main() -> asan_card::Result<()> {
    /// let mut card = AsanCard::open(VirtualTransport::in_memory()?)?;
    /// let info = card.info()?;
    /// assert_eq!(info.serial.len(), 16);
    /// assert_eq!(info.life_cycle, "initialisation");
    /// assert!(info.service.is_none());
    /// assert_eq!(info.keys.len(), 6);
    /// assert!(info.keys.iter().all(|k| !k.present && k.certificate_len == 0));
    /// // The same data as `asan info --json`:
    /// let json = serde_json::to_value(&info).map_err(|e| asan_card::Error::Usage(e.to_string()))?;
    /// assert_eq!(json["pins"]["puk"]["max_tries"], 10);
    /// # Ok(())
    /// # }
    /// ```
    pub fn info(&mut self) -> Result<CardInfo> {
        let r = self.send(&Command::new([0x00, ins::GET_DATA, 0x00, data_object::ALL]).le(0))?;
        check("GET DATA", r.sw, None)?;
        info::parse(&r.data)
    }

    /// Tries left and limits of PIN1, PIN2 and the PUK (one GET DATA).
    ///
    /// # Example
    ///
    /// ```
    /// use asan_card::{AsanCard, transport::virtual_card::VirtualTransport};
    /// # fn main() -> asan_card::Result<()> {
    /// let mut card = AsanCard::open(VirtualTransport::in_memory()?)?;
    /// let pins = card.pin_status()?;
    /// assert_eq!((pins.pin1.max_tries, pins.pin2.max_tries, pins.puk.max_tries), (3, 3, 10));
    /// assert!(!pins.pin2.set, "a factory-fresh card has no PINs yet");
    /// # Ok(())
    /// # }
    /// ```
    pub fn pin_status(&mut self) -> Result<PinsInfo> {
        info::parse_pins(&self.get_data(data_object::PIN_STATUS)?)
    }

    /// VERIFY of any PIN.
    ///
    /// # Example
    ///
    /// ```
    /// use asan_card::{AsanCard, Error, Pin1, transport::virtual_card::VirtualTransport};
    /// # use asan_applet::scp03::{SecurityLevel, StaticKeys};
    /// # use asan_applet::{KeyRef, PinRef, Service, ServiceType};
    /// # use asan_card::{Pin2, Puk, Secret, operator::Operator};
    /// # fn main() -> asan_card::Result<()> {
    /// let mut card = AsanCard::open(VirtualTransport::in_memory()?)?;
    /// # // Personalise: PIN1 1234, PIN2 12345, PUK 12345678, keys 11 and 21, Citizen service.
    /// # card.exclusive(|a| {
    /// #     let level = SecurityLevel::from_byte(0x03).ok_or(Error::Usage("level".into()))?;
    /// #     let mut op = Operator::open(a, &StaticKeys::default_test_keys(), level, true)?;
    /// #     op.set_pin(PinRef::Pin1, Pin1::new("1234")?.block())?;
    /// #     op.set_pin(PinRef::Pin2, Pin2::new("12345")?.block())?;
    /// #     op.set_pin(PinRef::Puk, Puk::new("12345678")?.block())?;
    /// #     op.generate_key(KeyRef::DEFAULT_AUTHENTICATION)?;
    /// #     op.generate_key(KeyRef::DEFAULT_SIGNING)?;
    /// #     op.set_service(Service { kind: ServiceType::Citizen, active: true })?;
    /// #     op.activate()
    /// # })?;
    /// # card.select()?;
    /// // A wrong PIN costs a try and says how many are left.
    /// match card.verify_pin(&Pin1::new("9999")?) {
    ///     Err(e @ Error::WrongPin { tries_left: 2, .. }) => {
    ///         assert_eq!(e.to_string(), "wrong PIN1, 2 tries left");
    ///         assert_eq!(e.exit_code(), 3);
    ///     }
    ///     other => panic!("{other:?}"),
    /// }
    /// // The right one restores the counter.
    /// card.verify_pin(&Pin1::new("1234")?)?;
    /// assert_eq!(card.pin_status()?.pin1.tries_left, 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn verify_pin<P: Secret>(&mut self, pin: &P) -> Result<()> {
        self.verify_block(P::KIND, pin.block().as_bytes())
    }

    /// VERIFY of a PIN whose kind is known at run time.
    pub fn verify_any(&mut self, pin: &AnyPin) -> Result<()> {
        self.verify_block(pin.kind(), pin.block().as_bytes())
    }

    fn verify_block(&mut self, kind: PinRef, block: &[u8]) -> Result<()> {
        let r = self.send(
            &Command::new([0x00, ins::VERIFY, 0x00, kind.byte()])
                .data(block)
                .secret(),
        )?;
        check_empty("VERIFY", &r, Some(kind))
    }

    /// Whether a PIN is verified now (VERIFY without data): `Ok(true)`,
    /// `Ok(false)` with tries left, or `Blocked`.
    pub fn pin_verified(&mut self, kind: PinRef) -> Result<bool> {
        let r = self.send(&Command::new([0x00, ins::VERIFY, 0x00, kind.byte()]))?;
        match check_empty("VERIFY", &r, Some(kind)) {
            Ok(()) => Ok(true),
            Err(Error::WrongPin { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Logs a PIN out (clears its verification).
    pub fn logout(&mut self, kind: PinRef) -> Result<()> {
        let r = self.send(&Command::new([
            0x00,
            ins::VERIFY,
            p::VERIFY_LOGOUT,
            kind.byte(),
        ]))?;
        check_empty("VERIFY (logout)", &r, None)
    }

    /// CHANGE REFERENCE DATA: old and new value of the same PIN.
    pub fn change_pin(&mut self, old: &AnyPin, new: &AnyPin) -> Result<()> {
        if old.kind() != new.kind() {
            return Err(Error::Usage(
                "old and new PIN are of different kinds".into(),
            ));
        }
        let mut data = zeroize::Zeroizing::new(old.block().as_bytes().to_vec());
        data.extend_from_slice(new.block().as_bytes());
        let r = self.send(
            &Command::new([0x00, ins::CHANGE_REFERENCE_DATA, 0x00, old.kind().byte()])
                .data(&data)
                .secret(),
        )?;
        check_empty("CHANGE REFERENCE DATA", &r, Some(old.kind()))
    }

    /// RESET RETRY COUNTER: the PUK unblocks PIN1 or PIN2, with a new value
    /// (`Some`) or keeping the old one (`None`).
    pub fn unblock_pin(&mut self, puk: &Puk, new: Option<&AnyPin>) -> Result<()> {
        self.unblock(None, puk, new)
    }

    /// Like [`AsanCard::unblock_pin`] for a PIN named without a new value.
    pub fn unblock(
        &mut self,
        target: Option<PinRef>,
        puk: &Puk,
        new: Option<&AnyPin>,
    ) -> Result<()> {
        let target = match (target, new) {
            (_, Some(n)) => n.kind(),
            (Some(t), None) => t,
            (None, None) => return Err(Error::Usage("which PIN to unblock?".into())),
        };
        if target == PinRef::Puk {
            return Err(Error::Usage(
                "the PUK cannot be unblocked; a blocked PUK means a new SIM".into(),
            ));
        }
        let mut data = zeroize::Zeroizing::new(puk.block().as_bytes().to_vec());
        let p1 = match new {
            Some(n) => {
                data.extend_from_slice(n.block().as_bytes());
                p::RESET_WITH_NEW_PIN
            }
            None => p::RESET_KEEP_PIN,
        };
        let r = self.send(
            &Command::new([0x00, ins::RESET_RETRY_COUNTER, p1, target.byte()])
                .data(&data)
                .secret(),
        )?;
        check_empty("RESET RETRY COUNTER", &r, Some(PinRef::Puk))
    }

    /// The public key of `key` (no PIN needed). Over a shared reader it is
    /// also what later signatures with `key` are checked against.
    pub fn public_key(&mut self, key: KeyRef) -> Result<PublicKey> {
        let r = self.send(&public_key_command(key))?;
        let public = public_key_answer(&r)?;
        self.remember_public_key(key, public);
        Ok(public)
    }

    /// The certificate file of `key`, raw DER (no PIN needed): SELECT EF,
    /// then READ BINARY — one extended read where the reader allows it,
    /// 256-byte reads otherwise.
    pub fn read_certificate_der(&mut self, key: KeyRef) -> Result<Vec<u8>> {
        let fid = key.certificate().bytes();
        self.exclusive(|a| {
            let r = a.send(
                &Command::new([0x00, ins::SELECT, p::SELECT_EF, p::SELECT_NO_DATA]).data(&fid),
            )?;
            check_empty("SELECT (certificate)", &r, None).map_err(|e| match e {
                Error::NotFound(_) => Error::NotFound(format!(
                    "no {} {} certificate",
                    info::profile_name(key.profile),
                    info::usage_name(key.usage)
                )),
                e => e,
            })?;
            let mut der = Vec::new();
            loop {
                let offset = u16::try_from(der.len())
                    .map_err(|_| Error::InvalidResponse("certificate larger than 32 KiB".into()))?;
                let [hi, lo] = offset.to_be_bytes();
                // Le 0000 (extended) reads the whole file at once; 00 reads 256.
                let le = if a.extended() { 65_536 } else { 256 };
                let r = a.send(&Command::new([0x00, ins::READ_BINARY, hi, lo]).le(le))?;
                match r.sw {
                    0x6B00 if !der.is_empty() => {
                        return Err(Error::Certificate(format!(
                            "the certificate file ends after {} bytes, before its DER does",
                            der.len()
                        )));
                    }
                    sw => check("READ BINARY", sw, None)?,
                }
                if r.data.is_empty() {
                    return Err(Error::InvalidResponse(
                        "READ BINARY answered no data".into(),
                    ));
                }
                der.extend_from_slice(&r.data);
                if der.len() > asan_applet::wire::limits::MAX_CERTIFICATE {
                    return Err(Error::InvalidResponse(
                        "certificate file larger than 4096 bytes".into(),
                    ));
                }
                if complete_der(&der)? {
                    break;
                }
            }
            Ok(der)
        })
    }

    /// The certificate of `profile`/`usage`, parsed.
    pub fn read_certificate(
        &mut self,
        profile: CertificateProfile,
        usage: KeyUsage,
    ) -> Result<Certificate> {
        cert::parse(&self.read_certificate_der(KeyRef::new(profile, usage))?)
    }
}

/// Whether `der` holds a complete outer DER SEQUENCE (so no more reads are
/// needed). Anything else at the start is not a certificate: an error.
fn complete_der(der: &[u8]) -> Result<bool> {
    if der.first() != Some(&0x30) {
        return Err(Error::Certificate(
            "the certificate file does not hold a DER SEQUENCE".into(),
        ));
    }
    match tlv::read(der) {
        Ok((_, [])) => Ok(true),
        Ok((_, rest)) => Err(Error::Certificate(format!(
            "{} bytes after the certificate's DER",
            rest.len()
        ))),
        // Not complete yet: read on.
        Err(_) => Ok(false),
    }
}

/// GENERATE ASYMMETRIC KEY PAIR in its "read the public key" form.
fn public_key_command(key: KeyRef) -> Command<'static> {
    Command::new([
        0x00,
        ins::GENERATE_ASYMMETRIC_KEY_PAIR,
        p::KEY_READ_PUBLIC,
        key.byte(),
    ])
    .le(0)
}

/// The public key in the answer to [`public_key_command`].
fn public_key_answer(r: &Response) -> Result<PublicKey> {
    check("GET PUBLIC KEY", r.sw, None)?;
    parse_public_key(&r.data)
}

/// Decodes `7F49 { 86 41 04 X Y }`.
pub fn parse_public_key(data: &[u8]) -> Result<PublicKey> {
    let inner = tlv::expect(data, 0x7F49)?;
    let point = tlv::expect(inner, u16::from(tag::EC_POINT))?;
    PublicKey::from_sec1_bytes(point)
        .map_err(|_| Error::InvalidResponse("the public key is not a P-256 point".into()))
}
