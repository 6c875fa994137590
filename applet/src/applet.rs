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
}

/// Persistent store, randomness and session state: what commands act on.
pub struct Core<S, R> {
    /// The persistent store.
    pub store: S,
    /// The card's CSPRNG.
    pub rng: R,
    /// Volatile session state.
    pub session: Session,
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
        self.buf.zeroize();
        self.len = 0;
        self.key = None;
    }

    fn data(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
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
            },
            chain: Chain {
                buf: [0; OUT_CAP],
                len: 0,
                key: None,
            },
            out: Out::default(),
        })
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
        // Secure-messaging answers (R-MAC, R-ENC) come whole when Le is absent.
        let ne = match (level, apdu.ne) {
            (Some(_), 0) => OUT_CAP,
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
        if self.chain.key.is_some_and(|k| k != key) {
            self.chain.reset();
            return (Status::LastCommandOfChainExpected, None);
        }
        let level = match self.append(apdu, secure) {
            Ok(level) => level,
            Err(status) => {
                self.chain.reset();
                return (status, None);
            }
        };
        if apdu.chained {
            self.chain.key = Some(key);
            return (Status::Success, level);
        }
        let ctx = Ctx {
            level,
            ne: apdu.ne,
            extended: apdu.extended,
        };
        let result = match command::parse(apdu.kind, apdu.ins, apdu.p1, apdu.p2, self.chain.data())
        {
            Ok(cmd) => execute(&mut self.core, cmd, ctx, &mut self.out),
            Err(status) => Err(status),
        };
        self.chain.reset();
        (status_of(result), level)
    }

    /// Appends the (unwrapped) data of one APDU to the chain buffer.
    fn append(&mut self, apdu: &Apdu<'_>, secure: bool) -> Result<Option<SecurityLevel>, Status> {
        let free = self
            .chain
            .buf
            .get_mut(self.chain.len..)
            .ok_or(Status::WrongLength)?;
        let (n, level) = if secure {
            let session = &mut self.core.session;
            let Some(channel) = session.channel.as_mut().filter(|c| c.level().is_some()) else {
                return Err(Status::SecurityStatusNotSatisfied);
            };
            let level = channel.level();
            match channel.unwrap_command(apdu.header(), apdu.extended, apdu.data, free) {
                Ok(n) => (n, level),
                Err(_) => {
                    // A failed MAC closes the channel.
                    session.channel = None;
                    return Err(Status::SecurityStatusNotSatisfied);
                }
            }
        } else {
            let dst = free.get_mut(..apdu.data.len()).ok_or(Status::WrongLength)?;
            dst.copy_from_slice(apdu.data);
            (apdu.data.len(), None)
        };
        self.chain.len += n;
        if self.chain.len > MAX_COMMAND_DATA {
            return Err(Status::WrongLength);
        }
        Ok(level)
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
    if lcs == LifeCycle::Terminated
        && !matches!(cmd, Command::SelectApplet { .. } | Command::GetData { .. })
    {
        return Err(Status::ConditionsOfUseNotSatisfied);
    }
    if cmd.is_operator() {
        let level = ctx.level.ok_or(Status::SecurityStatusNotSatisfied)?;
        if cmd.carries_secrets() && !level.c_decryption() {
            return Err(Status::SecurityStatusNotSatisfied);
        }
    }
    command::execute(core, cmd, lcs, ctx, out)
}
