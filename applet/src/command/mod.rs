//! Typed commands: an [`Apdu`](crate::apdu::Apdu) is parsed into a
//! [`Command`], then executed by its family (one file each).

mod channel;
mod data;
mod file;
mod operator;
mod pin;
mod security;

pub use channel::{external_authenticate, initialize_update};

use rand_core::CryptoRng;

use crate::applet::{Core, Ctx};
use crate::objects::LifeCycle;
use crate::objects::{CertificateFid, KeyRef, Service};
use crate::out::Out;
use crate::pin::{PinBlock, PinRef};
use crate::store::Store;
use crate::wire::{Status, ins, limits, p};

/// What VERIFY is asked to do.
#[derive(Debug)]
pub enum VerifyAction {
    /// Compare a PIN block.
    Check(PinBlock),
    /// Status query: no data.
    Status,
    /// Clear the PIN's security status.
    Logout,
}

/// Which MSE template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Template {
    /// Authentication template (`A4`).
    Authentication,
    /// Digital signature template (`B6`).
    Signature,
}

/// A parsed command; the data it borrows is plain (unwrapped, chained).
#[derive(Debug)]
pub enum Command<'a> {
    /// SELECT by AID.
    SelectApplet {
        /// The DF name asked for.
        aid: &'a [u8],
        /// Return the FCI.
        fci: bool,
    },
    /// SELECT EF by file identifier.
    SelectFile {
        /// The file identifier.
        fid: [u8; 2],
        /// Return the FCP.
        fcp: bool,
    },
    /// READ BINARY of the current EF.
    ReadBinary {
        /// Offset.
        offset: usize,
    },
    /// VERIFY.
    Verify {
        /// The PIN.
        pin: PinRef,
        /// What to do.
        action: VerifyAction,
    },
    /// CHANGE REFERENCE DATA.
    ChangeReferenceData {
        /// The PIN.
        pin: PinRef,
        /// Current value.
        old: PinBlock,
        /// New value.
        new: PinBlock,
    },
    /// RESET RETRY COUNTER with the PUK.
    ResetRetryCounter {
        /// The PIN to reset (PIN1 or PIN2).
        pin: PinRef,
        /// The PUK.
        puk: PinBlock,
        /// The new PIN value, if one is set.
        new: Option<PinBlock>,
    },
    /// MSE: SET AT / DST.
    ManageSecurityEnvironment {
        /// Template.
        template: Template,
        /// The key to select.
        key: KeyRef,
    },
    /// INTERNAL AUTHENTICATE.
    InternalAuthenticate {
        /// The digest, 20–64 bytes.
        digest: &'a [u8],
    },
    /// PSO: COMPUTE DIGITAL SIGNATURE.
    ComputeDigitalSignature {
        /// The SHA-256 digest.
        digest: &'a [u8],
    },
    /// PSO: COMPUTE DIGITAL SIGNATURE with its own PIN2 (contract 1.1): the
    /// key, the PIN2 and the digest in one command.
    ComputeDigitalSignatureWithPin {
        /// The signing key.
        key: KeyRef,
        /// The PIN2 block.
        pin2: PinBlock,
        /// The SHA-256 digest.
        digest: &'a [u8],
    },
    /// Read a public key.
    GetPublicKey {
        /// The key.
        key: KeyRef,
    },
    /// GET DATA.
    GetData {
        /// The data object tag.
        tag: u8,
    },
    /// Operator: set a PIN or PUK value.
    SetPin {
        /// The PIN.
        pin: PinRef,
        /// The value.
        value: PinBlock,
    },
    /// Operator: set a retry limit.
    SetRetryLimit {
        /// The PIN.
        pin: PinRef,
        /// The limit 1–15.
        limit: u8,
    },
    /// Operator: generate a key pair.
    GenerateKeyPair {
        /// The key.
        key: KeyRef,
    },
    /// Operator: write (or with empty data delete) a certificate.
    WriteCertificate {
        /// The file.
        file: CertificateFid,
        /// The DER certificate.
        der: &'a [u8],
    },
    /// Operator: set the service.
    SetService {
        /// Type and state.
        service: Service,
    },
    /// Operator: life cycle 03 → 05.
    Activate,
    /// Operator: life cycle → 0F.
    Terminate,
    /// Operator: replace the SCP03 key set.
    PutKey {
        /// Key version to replace (00 = the current one).
        kvn: u8,
        /// The key data.
        data: &'a [u8],
    },
}

impl Command<'_> {
    /// Whether the command needs the SCP03 channel.
    pub fn is_operator(&self) -> bool {
        matches!(
            self,
            Self::SetPin { .. }
                | Self::SetRetryLimit { .. }
                | Self::GenerateKeyPair { .. }
                | Self::WriteCertificate { .. }
                | Self::SetService { .. }
                | Self::Activate
                | Self::Terminate
                | Self::PutKey { .. }
        )
    }

    /// Whether the command carries PIN values and so needs C-DECRYPTION.
    /// (PUT KEY carries keys encrypted under K-DEK, as GlobalPlatform does.)
    pub fn carries_pin_values(&self) -> bool {
        matches!(self, Self::SetPin { .. })
    }
}

/// Executes a command that passed the life-cycle and channel gates.
pub fn execute<S: Store, R: CryptoRng>(
    core: &mut Core<S, R>,
    cmd: Command<'_>,
    lcs: LifeCycle,
    ctx: Ctx,
    out: &mut Out,
) -> Result<(), Status> {
    // User commands that act on PINs and keys need an operational card.
    let user_gated = matches!(
        cmd,
        Command::Verify { .. }
            | Command::ChangeReferenceData { .. }
            | Command::ResetRetryCounter { .. }
            | Command::ManageSecurityEnvironment { .. }
            | Command::InternalAuthenticate { .. }
            | Command::ComputeDigitalSignature { .. }
            | Command::ComputeDigitalSignatureWithPin { .. }
    );
    if user_gated && lcs != LifeCycle::Operational {
        return Err(Status::ConditionsOfUseNotSatisfied);
    }
    match cmd {
        Command::SelectApplet { aid, fci } => file::select_applet(core, aid, fci, lcs, out),
        Command::SelectFile { fid, fcp } => file::select_file(core, fid, fcp, out),
        Command::ReadBinary { offset } => file::read_binary(core, offset, ctx, out),
        Command::Verify { pin, action } => pin::verify(core, pin, action),
        Command::ChangeReferenceData { pin, old, new } => pin::change(core, pin, &old, new),
        Command::ResetRetryCounter { pin, puk, new } => pin::reset(core, pin, &puk, new),
        Command::ManageSecurityEnvironment { template, key } => security::mse(core, template, key),
        Command::InternalAuthenticate { digest } => {
            security::internal_authenticate(core, digest, out)
        }
        Command::ComputeDigitalSignature { digest } => {
            security::compute_signature(core, digest, out)
        }
        Command::ComputeDigitalSignatureWithPin { key, pin2, digest } => {
            security::compute_signature_with_pin(core, key, &pin2, digest, out)
        }
        Command::GetPublicKey { key } => security::get_public_key(core, key, out),
        Command::GetData { tag } => data::get_data(core, tag, out),
        Command::SetPin { pin, value } => operator::set_pin(core, lcs, pin, value),
        Command::SetRetryLimit { pin, limit } => operator::set_retry_limit(core, lcs, pin, limit),
        Command::GenerateKeyPair { key } => operator::generate_key_pair(core, lcs, key, out),
        Command::WriteCertificate { file, der } => {
            operator::write_certificate(core, lcs, file, der)
        }
        Command::SetService { service } => operator::set_service(core, lcs, service),
        Command::Activate => operator::activate(core, lcs),
        Command::Terminate => operator::terminate(core),
        Command::PutKey { kvn, data } => operator::put_key(core, kvn, data, out),
    }
}

fn no_data(data: &[u8]) -> Result<(), Status> {
    if data.is_empty() {
        Ok(())
    } else {
        Err(Status::WrongLength)
    }
}

fn pin_ref(b: u8) -> Result<PinRef, Status> {
    PinRef::from_byte(b).ok_or(Status::KeyReferenceNotFound)
}

fn key_ref(b: u8) -> Result<KeyRef, Status> {
    KeyRef::from_byte(b).ok_or(Status::KeyReferenceNotFound)
}

fn block(pin: PinRef, chunk: &[u8]) -> Result<PinBlock, Status> {
    PinBlock::parse(pin, chunk).ok_or(Status::IncorrectDataParameter)
}

/// One PIN block: wrong size is `6700`, a malformed block `6A80`.
fn one_block(pin: PinRef, data: &[u8]) -> Result<PinBlock, Status> {
    if data.len() != limits::PIN_BLOCK {
        return Err(Status::WrongLength);
    }
    block(pin, data)
}

/// Two PIN blocks, checked the same way.
fn two_blocks(first: PinRef, second: PinRef, data: &[u8]) -> Result<(PinBlock, PinBlock), Status> {
    if data.len() != 2 * limits::PIN_BLOCK {
        return Err(Status::WrongLength);
    }
    let (a, b) = data
        .split_at_checked(limits::PIN_BLOCK)
        .ok_or(Status::WrongLength)?;
    Ok((block(first, a)?, block(second, b)?))
}

/// Whether a card presenting contract minor version `contract_minor`
/// knows the command at all: a version 1.0 card answers PSO: CDS with PIN2
/// (P2 `AC`) `6A86`, whatever its data.
pub fn known(contract_minor: u8, ins_byte: u8, p1: u8, p2: u8) -> Result<(), Status> {
    if contract_minor == 0 && ins_byte == ins::PSO && [p1, p2] == p::PSO_CDS_WITH_PIN {
        return Err(Status::IncorrectP1OrP2Parameter);
    }
    Ok(())
}

/// The data of PSO: CDS with PIN2, exactly `84 01 keyref` `81 08 PIN2-block`
/// `90 20 digest` in this order: anything else (tags, order, lengths, a
/// malformed PIN block) is `6A80` and costs no try; a key reference that is
/// not a signing key is `6A88`.
fn sign_with_pin(data: &[u8]) -> Result<Command<'_>, Status> {
    use crate::wire::tag;
    let malformed = Status::IncorrectDataParameter;
    let [t_key, l_key, key, t_pin, l_pin, rest @ ..] = data else {
        return Err(malformed);
    };
    let (pin_block, rest) = rest.split_at_checked(limits::PIN_BLOCK).ok_or(malformed)?;
    let [t_digest, l_digest, digest @ ..] = rest else {
        return Err(malformed);
    };
    let lengths = [*l_key, *l_pin, *l_digest].map(usize::from);
    if [*t_key, *t_pin, *t_digest] != [tag::KEY_REFERENCE, tag::PIN_BLOCK, tag::DIGEST]
        || lengths != [1, limits::PIN_BLOCK, limits::SIGN_DIGEST]
        || digest.len() != limits::SIGN_DIGEST
    {
        return Err(malformed);
    }
    let pin2 = block(PinRef::Pin2, pin_block)?;
    let key = KeyRef::from_byte(*key)
        .filter(|k| k.usage == crate::objects::KeyUsage::Signing)
        .ok_or(Status::KeyReferenceNotFound)?;
    Ok(Command::ComputeDigitalSignatureWithPin { key, pin2, digest })
}

/// Parses a command with its (plain, complete) data.
pub fn parse(ins_byte: u8, p1: u8, p2: u8, data: &[u8]) -> Result<Command<'_>, Status> {
    let cmd = match (ins_byte, p1) {
        (ins::SELECT, p::SELECT_BY_NAME) => match p2 {
            p::SELECT_RETURN_FCI | p::SELECT_NO_DATA => Command::SelectApplet {
                aid: data,
                fci: p2 == p::SELECT_RETURN_FCI,
            },
            _ => return Err(Status::IncorrectP1OrP2Parameter),
        },
        (ins::SELECT, p::SELECT_EF) => {
            let fid = <[u8; 2]>::try_from(data).map_err(|_| Status::WrongLength)?;
            match p2 {
                p::SELECT_RETURN_FCP | p::SELECT_NO_DATA => Command::SelectFile {
                    fid,
                    fcp: p2 == p::SELECT_RETURN_FCP,
                },
                _ => return Err(Status::IncorrectP1OrP2Parameter),
            }
        }
        (ins::SELECT, _) => return Err(Status::IncorrectP1OrP2Parameter),
        (ins::READ_BINARY, _) => {
            if p1 & 0x80 != 0 {
                return Err(Status::IncorrectP1OrP2Parameter);
            }
            no_data(data)?;
            Command::ReadBinary {
                offset: usize::from(u16::from_be_bytes([p1, p2])),
            }
        }
        (ins::VERIFY, p::VERIFY_CHECK) => {
            let pin = pin_ref(p2)?;
            let action = if data.is_empty() {
                VerifyAction::Status
            } else {
                VerifyAction::Check(one_block(pin, data)?)
            };
            Command::Verify { pin, action }
        }
        (ins::VERIFY, p::VERIFY_LOGOUT) => {
            let pin = pin_ref(p2)?;
            no_data(data)?;
            Command::Verify {
                pin,
                action: VerifyAction::Logout,
            }
        }
        (ins::VERIFY, _) => return Err(Status::IncorrectP1OrP2Parameter),
        (ins::CHANGE_REFERENCE_DATA, 0x00) => {
            let pin = pin_ref(p2)?;
            let (old, new) = two_blocks(pin, pin, data)?;
            Command::ChangeReferenceData { pin, old, new }
        }
        (ins::CHANGE_REFERENCE_DATA, _) => return Err(Status::IncorrectP1OrP2Parameter),
        (ins::RESET_RETRY_COUNTER, p::RESET_WITH_NEW_PIN | p::RESET_KEEP_PIN) => {
            let pin = pin_ref(p2)?;
            if pin == PinRef::Puk {
                return Err(Status::IncorrectP1OrP2Parameter);
            }
            if p1 == p::RESET_WITH_NEW_PIN {
                let (puk, new) = two_blocks(PinRef::Puk, pin, data)?;
                Command::ResetRetryCounter {
                    pin,
                    puk,
                    new: Some(new),
                }
            } else {
                let puk = one_block(PinRef::Puk, data)?;
                Command::ResetRetryCounter {
                    pin,
                    puk,
                    new: None,
                }
            }
        }
        (ins::RESET_RETRY_COUNTER, p::SET_PIN_VALUE) => {
            let pin = pin_ref(p2)?;
            Command::SetPin {
                pin,
                value: one_block(pin, data)?,
            }
        }
        (ins::RESET_RETRY_COUNTER, _) => return Err(Status::IncorrectP1OrP2Parameter),
        (ins::MSE, p::MSE_SET) => {
            let template = match p2 {
                p::MSE_AT => Template::Authentication,
                p::MSE_DST => Template::Signature,
                _ => return Err(Status::IncorrectP1OrP2Parameter),
            };
            let [t, l, k] =
                <[u8; 3]>::try_from(data).map_err(|_| Status::IncorrectDataParameter)?;
            if t != crate::wire::tag::KEY_REFERENCE || l != 1 {
                return Err(Status::IncorrectDataParameter);
            }
            let key = KeyRef::from_byte(k).ok_or(Status::IncorrectDataParameter)?;
            let usage_matches = match template {
                Template::Authentication => key.usage == crate::objects::KeyUsage::Authentication,
                Template::Signature => key.usage == crate::objects::KeyUsage::Signing,
            };
            if !usage_matches {
                return Err(Status::IncorrectDataParameter);
            }
            Command::ManageSecurityEnvironment { template, key }
        }
        (ins::MSE, _) => return Err(Status::IncorrectP1OrP2Parameter),
        (ins::INTERNAL_AUTHENTICATE, _) => {
            if (p1, p2) != (0, 0) {
                return Err(Status::IncorrectP1OrP2Parameter);
            }
            if !(limits::AUTH_DIGEST_MIN..=limits::AUTH_DIGEST_MAX).contains(&data.len()) {
                return Err(Status::WrongLength);
            }
            Command::InternalAuthenticate { digest: data }
        }
        (ins::PSO, _) if [p1, p2] == p::PSO_CDS_WITH_PIN => sign_with_pin(data)?,
        (ins::PSO, _) => {
            if [p1, p2] != p::PSO_CDS {
                return Err(Status::IncorrectP1OrP2Parameter);
            }
            Command::ComputeDigitalSignature { digest: data }
        }
        (ins::GENERATE_ASYMMETRIC_KEY_PAIR, p::KEY_READ_PUBLIC) => {
            no_data(data)?;
            Command::GetPublicKey { key: key_ref(p2)? }
        }
        (ins::GENERATE_ASYMMETRIC_KEY_PAIR, p::KEY_GENERATE) => {
            no_data(data)?;
            Command::GenerateKeyPair { key: key_ref(p2)? }
        }
        (ins::GENERATE_ASYMMETRIC_KEY_PAIR, _) => return Err(Status::IncorrectP1OrP2Parameter),
        (ins::GET_DATA, 0x00) => {
            no_data(data)?;
            Command::GetData { tag: p2 }
        }
        (ins::GET_DATA, _) => return Err(Status::IncorrectP1OrP2Parameter),
        (ins::PUT_DATA, p::PUT_RETRY_LIMIT) => {
            let pin = pin_ref(p2)?;
            let [limit] = <[u8; 1]>::try_from(data).map_err(|_| Status::WrongLength)?;
            if limit == 0 || limit > crate::pin::MAX_RETRY_LIMIT {
                return Err(Status::IncorrectDataParameter);
            }
            Command::SetRetryLimit { pin, limit }
        }
        (ins::PUT_DATA, _) if [p1, p2] == p::PUT_SERVICE => {
            let b = <[u8; 2]>::try_from(data).map_err(|_| Status::WrongLength)?;
            let service = Service::from_bytes(b).ok_or(Status::IncorrectDataParameter)?;
            Command::SetService { service }
        }
        (ins::PUT_DATA, _) => {
            let file =
                CertificateFid::from_bytes([p1, p2]).ok_or(Status::IncorrectP1OrP2Parameter)?;
            Command::WriteCertificate { file, der: data }
        }
        (ins::ACTIVATE, _) => {
            if (p1, p2) != (0, 0) {
                return Err(Status::IncorrectP1OrP2Parameter);
            }
            no_data(data)?;
            Command::Activate
        }
        (ins::TERMINATE, _) => {
            if (p1, p2) != (0, 0) {
                return Err(Status::IncorrectP1OrP2Parameter);
            }
            no_data(data)?;
            Command::Terminate
        }
        (ins::PUT_KEY, _) => {
            if p2 != p::PUT_KEY_P2 {
                return Err(Status::IncorrectP1OrP2Parameter);
            }
            Command::PutKey { kvn: p1, data }
        }
        (ins::GET_RESPONSE | ins::INITIALIZE_UPDATE | ins::EXTERNAL_AUTHENTICATE, _) => {
            // Handled by the transport and channel layers before parsing.
            return Err(Status::ClassNotSupported);
        }
        _ => return Err(Status::InstructionNotSupportedOrInvalid),
    };
    Ok(cmd)
}
