//! Volatile state of one card session: security status, MSE selection,
//! current file and the secure channel. Lost on reset and power-off.

use crate::objects::{CertificateFid, KeyRef};
use crate::scp03::card::CardChannel;

/// What a power-on, reset or SELECT of the applet starts from.
#[derive(Debug)]
pub struct Session {
    /// PIN1 verified in this card session.
    pub pin1_verified: bool,
    /// PIN2 verified and not yet used by a PSO: COMPUTE DIGITAL SIGNATURE.
    pub pin2_verified: bool,
    /// PUK verified in this card session (authorises nothing by itself).
    pub puk_verified: bool,
    /// Authentication key selected by MSE: SET AT.
    pub auth_key: KeyRef,
    /// Signing key selected by MSE: SET DST.
    pub sign_key: KeyRef,
    /// The certificate file selected by SELECT EF.
    pub current_ef: Option<CertificateFid>,
    /// SCP03 channel: initialised after INITIALIZE UPDATE, open after EXTERNAL AUTHENTICATE.
    pub channel: Option<CardChannel>,
}

impl Default for Session {
    fn default() -> Self {
        Self {
            pin1_verified: false,
            pin2_verified: false,
            puk_verified: false,
            auth_key: KeyRef::DEFAULT_AUTHENTICATION,
            sign_key: KeyRef::DEFAULT_SIGNING,
            current_ef: None,
            channel: None,
        }
    }
}

impl Session {
    /// Whether an SCP03 channel is open (authenticated).
    pub fn channel_open(&self) -> bool {
        self.channel.as_ref().is_some_and(|c| c.level().is_some())
    }
}
