//! The applet: one C-APDU in, one R-APDU out. This file is the transport
//! layer (framing, class, secure channel, chaining, GET RESPONSE); commands
//! are executed by their families under `command/`.

use rand_core::CryptoRng;
use zeroize::Zeroize;

use crate::apdu::{Apdu, ClassKind};
use crate::command::{self, Command};
use crate::objects::LifeCycle;
use crate::out::{OUT_CAP, Out};
use crate::scp03::SecurityLevel;
use crate::session::Session;
use crate::state::{self, Fault};
use crate::store::Store;
use crate::wire::{Status, ins, limits::MAX_COMMAND_DATA};

impl From<Fault> for Status {
    fn from(_: Fault) -> Self {
        Status::UnspecifiedCheckingError
    }
}

/// What the executing command knows about how it arrived.
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    /// The command came through the open SCP03 channel at this level.
    pub level: Option<SecurityLevel>,
    /// Ne of the (last) APDU.
    pub ne: usize,
    /// Whether that APDU used extended lengths.
    pub extended: bool,
    /// The class the command came with.
    pub class: ClassKind,
}

/// Persistent store, randomness and session state: what commands act on.
pub struct Core<S, R> {
    /// The persistent store.
    pub store: S,
    /// The card's CSPRNG.
    pub rng: R,
    /// Volatile session state.
    pub session: Session,
    /// The minor version of the contract the card presents: normally
    /// [`CONTRACT_MINOR`](crate::wire::CONTRACT_MINOR); `0` when it
    /// emulates a version 1.0 card ([`Applet::emulate_contract_1_0`]).
    pub contract_minor: u8,
}

/// Identity of a command chain: the parts must agree on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ChainKey {
    ins: u8,
    p1: u8,
    p2: u8,
    secure: bool,
}

/// Command data, accumulated over a chain.
struct Chain {
    buf: [u8; OUT_CAP],
    len: usize,
    key: Option<ChainKey>,
}

impl Chain {
    fn reset(&mut self) {
        // Only the bytes a command used can hold anything.
        if let Some(used) = self.buf.get_mut(..self.len) {
            used.zeroize();
        }
        self.len = 0;
        self.key = None;
    }

    fn data(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// Appends one part; more than the contract's 4096 bytes is `6700`.
    fn append(&mut self, data: &[u8]) -> Result<(), Status> {
        let end = self.len + data.len();
        if end > MAX_COMMAND_DATA {
            return Err(Status::WrongLength);
        }
        let dst = self.buf.get_mut(self.len..end).ok_or(Status::WrongLength)?;
        dst.copy_from_slice(data);
        self.len = end;
        Ok(())
    }
}

/// The Asan İmza applet on a store `S` with a CSPRNG `R`.
pub struct Applet<S, R> {
    core: Core<S, R>,
    chain: Chain,
    out: Out,
}

impl<S, R> core::fmt::Debug for Applet<S, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Applet")
            .field("session", &self.core.session)
            .finish_non_exhaustive()
    }
}

/// An R-APDU: data and status word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response<'a> {
    /// Response data.
    pub data: &'a [u8],
    /// Status word.
    pub status: Status,
}

impl Response<'_> {
    /// The status word as a 16-bit value.
    pub fn sw(&self) -> u16 {
        self.status.to_u16()
    }
}

impl<S: Store, R: CryptoRng> Applet<S, R> {
    /// Powers up the applet on `store`: a store with no card on it gets a
    /// fresh card installed (life cycle `03`, default SCP03 keys).
    pub fn new(mut store: S, mut rng: R) -> Result<Self, Fault> {
        if !state::installed(&store)? {
            state::install(&mut store, &mut rng)?;
        }
        // Refuse a store whose records do not decode.
        state::life_cycle(&store)?;
        state::serial(&store)?;
        Ok(Self {
            core: Core {
                store,
                rng,
                session: Session::default(),
                contract_minor: crate::wire::CONTRACT_MINOR,
            },
            chain: Chain {
                buf: [0; OUT_CAP],
                len: 0,
                key: None,
            },
            out: Out::default(),
        })
    }

    /// Presents the card as one implementing contract version 1.0: no
    /// minor version object `C7`, and PSO: COMPUTE DIGITAL SIGNATURE with
    /// PIN2 (P2 `AC`) answered `6A86`, as an older card answers it. For
    /// testing hosts against version 1.0 cards; nothing is stored.
    pub fn emulate_contract_1_0(&mut self) {
        self.core.contract_minor = 0;
    }

    /// The store (for saving images and for tests).
    pub fn store(&self) -> &S {
        &self.core.store
    }

    /// The store, mutable (fault injection in tests).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.core.store
    }

    /// Gives the store back (power-off).
    pub fn into_store(self) -> S {
        self.core.store
    }

    /// Card reset or power cycle: clears the security status, MSE selection,
    /// chains, pending response data and the secure channel.
    pub fn reset(&mut self) {
        self.core.session = Session::default();
        self.chain.reset();
        self.out.clear();
    }

    /// Processes one C-APDU and answers its R-APDU. Never fails: any input
    /// gets a status word.
    pub fn process(&mut self, capdu: &[u8]) -> Response<'_> {
        let apdu = match Apdu::parse(capdu) {
            Ok(a) => a,
            Err(status) => {
                self.out.clear();
                return Response { data: &[], status };
            }
        };
        if apdu.kind == ClassKind::Iso && apdu.ins == ins::GET_RESPONSE {
            return self.get_response(&apdu);
        }
        self.out.clear();
        let (status, level) = self.dispatch(&apdu);
        let status = self.protect(status, level);
        // Inside the channel Le counts plain bytes (READ BINARY needs them);
        // the protected answer, longer by padding and R-MAC, comes in parts of
        // up to 256 bytes (short Le) or whole (extended Le).
        let ne = match (level, apdu.ne) {
            (Some(_), 1..) if apdu.extended => 65536,
            (Some(_), 1..) => 256,
            (_, ne) => ne,
        };
        let (data, status) = self.out.deliver(ne, status);
        Response { data, status }
    }

    fn get_response(&mut self, apdu: &Apdu<'_>) -> Response<'_> {
        let status = if (apdu.p1, apdu.p2) != (0, 0) {
            Status::IncorrectP1OrP2Parameter
        } else if !apdu.data.is_empty() || !apdu.has_le() {
            Status::WrongLength
        } else if !self.out.pending() {
            Status::ConditionsOfUseNotSatisfied
        } else {
            let (data, status) = self.out.deliver(apdu.ne, Status::Success);
            return Response { data, status };
        };
        Response { data: &[], status }
    }

    /// Wraps the response of a command that came through the channel.
    fn protect(&mut self, status: Status, level: Option<SecurityLevel>) -> Status {
        if level.is_none() {
            return status;
        }
        let Some(channel) = self.core.session.channel.as_mut() else {
            return status;
        };
        let mut wrapped = [0u8; OUT_CAP];
        let result = channel
            .wrap_response(self.out.data(), status.to_u16(), &mut wrapped)
            .ok()
            .and_then(|n| wrapped.get(..n))
            .map(|w| self.out.replace(w));
        wrapped.zeroize();
        match result {
            Some(Ok(())) => status,
            _ => {
                self.core.session.channel = None;
                self.out.clear();
                Status::UnspecifiedCheckingError
            }
        }
    }

    /// Class, channel and chain handling; returns the status and, for a
    /// command that came through the secure channel, its level.
    fn dispatch(&mut self, apdu: &Apdu<'_>) -> (Status, Option<SecurityLevel>) {
        let channel_setup = matches!(
            (apdu.kind, apdu.ins),
            (ClassKind::Gp, ins::INITIALIZE_UPDATE)
                | (ClassKind::GpSecure, ins::EXTERNAL_AUTHENTICATE)
        );
        if channel_setup && self.chain.key.is_some() {
            self.chain.reset();
            return (Status::LastCommandOfChainExpected, None);
        }
        match (apdu.kind, apdu.ins) {
            (ClassKind::Gp, ins::INITIALIZE_UPDATE) if !apdu.chained => {
                self.chain.reset();
                let r = command::initialize_update(&mut self.core, apdu, &mut self.out);
                return (status_of(r), None);
            }
            (ClassKind::GpSecure, ins::EXTERNAL_AUTHENTICATE) if !apdu.chained => {
                self.chain.reset();
                let r = command::external_authenticate(&mut self.core, apdu);
                return (status_of(r), None);
            }
            _ => {}
        }
        let secure = apdu.kind == ClassKind::GpSecure;
        let key = ChainKey {
            ins: apdu.ins,
            p1: apdu.p1,
            p2: apdu.p2,
            secure,
        };
        let breaks_chain = self.chain.key.is_some_and(|k| k != key);
        if breaks_chain && !(secure && self.core.session.channel_open()) {
            self.chain.reset();
            return (Status::LastCommandOfChainExpected, None);
        }
        // A command that came through the open channel is unwrapped first,
        // whatever follows, so that the card's MAC chaining value and counter
        // stay in step with the host's.
        let mut plain = [0u8; OUT_CAP];
        let unwrapped = if secure {
            match self.unwrap(apdu, &mut plain) {
                Ok((n, level)) => plain.get(..n).map(|d| (d, level)),
                Err(status) => {
                    self.chain.reset();
                    return (status, None);
                }
            }
        } else {
            Some((apdu.data, None))
        };
        let Some((data, level)) = unwrapped else {
            return (Status::UnspecifiedCheckingError, None);
        };
        let appended = if breaks_chain {
            Err(Status::LastCommandOfChainExpected)
        } else {
            self.chain.append(data)
        };
        plain.zeroize();
        if let Err(status) = appended {
            self.chain.reset();
            return (status, level);
        }
        if apdu.chained {
            self.chain.key = Some(key);
            return (Status::Success, level);
        }
        let ctx = Ctx {
            level,
            ne: apdu.ne,
            extended: apdu.extended,
            class: apdu.kind,
        };
        let result = command::known(self.core.contract_minor, apdu.ins, apdu.p1, apdu.p2)
            .and_then(|()| command::parse(apdu.ins, apdu.p1, apdu.p2, self.chain.data()))
            .and_then(|cmd| execute(&mut self.core, cmd, ctx, &mut self.out));
        self.chain.reset();
        (status_of(result), level)
    }

    /// Verifies and decrypts a command that came through the secure channel.
    /// Any failure closes the channel.
    fn unwrap(
        &mut self,
        apdu: &Apdu<'_>,
        plain: &mut [u8],
    ) -> Result<(usize, Option<SecurityLevel>), Status> {
        let session = &mut self.core.session;
        let Some(channel) = session.channel.as_mut().filter(|c| c.level().is_some()) else {
            return Err(Status::SecurityStatusNotSatisfied);
        };
        let level = channel.level();
        match channel.unwrap_command(apdu.header(), apdu.extended, apdu.data, plain) {
            Ok(n) => Ok((n, level)),
            Err(_) => {
                session.channel = None;
                Err(Status::SecurityStatusNotSatisfied)
            }
        }
    }
}

fn status_of(r: Result<(), Status>) -> Status {
    match r {
        Ok(()) => Status::Success,
        Err(s) => s,
    }
}

/// Life-cycle and channel gates common to all commands, then the family.
fn execute<S: Store, R: CryptoRng>(
    core: &mut Core<S, R>,
    cmd: Command<'_>,
    ctx: Ctx,
    out: &mut Out,
) -> Result<(), Status> {
    let lcs = state::life_cycle(&core.store)?;
    if cmd.is_operator() && ctx.level.is_none() {
        // Operator commands exist only inside the secure channel, whatever the class.
        return Err(Status::SecurityStatusNotSatisfied);
    }
    if ctx.class == ClassKind::Gp {
        // Plain GlobalPlatform class: only INITIALIZE UPDATE (handled before parsing).
        return Err(Status::ClassNotSupported);
    }
    if lcs == LifeCycle::Terminated
        && !matches!(
            cmd,
            Command::SelectApplet { .. } | Command::SelectFile { .. } | Command::GetData { .. }
        )
    {
        return Err(Status::ConditionsOfUseNotSatisfied);
    }
    if cmd.is_operator() {
        let level = ctx.level.ok_or(Status::SecurityStatusNotSatisfied)?;
        if cmd.carries_pin_values() && !level.c_decryption() {
            return Err(Status::SecurityStatusNotSatisfied);
        }
    }
    command::execute(core, cmd, lcs, ctx, out)
}
