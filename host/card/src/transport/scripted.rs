//! A scripted card for tests: answers from a list, in order, and can play a
//! hostile card (garbage, truncated, oversized or out-of-order answers, or
//! none at all).

use std::collections::VecDeque;

use super::{Exchange, Transport};
use crate::error::{Error, Result};

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Answer {
    /// These R-APDU bytes.
    Bytes(Vec<u8>),
    /// The card stops answering (a transport error, as a reader timeout).
    Silence,
}

/// A transport that answers from a script; once the script is used up it
/// answers every command with `6F00`, so a test cannot hang on it.
#[derive(Debug, Default)]
pub struct ScriptedTransport {
    answers: VecDeque<Answer>,
    /// The C-APDUs received, in order.
    pub sent: Vec<Vec<u8>>,
    /// Whether to claim extended-length support.
    pub extended: bool,
    /// Answer this to every command once the script is used up (default `6F00`).
    pub fallback: Option<Vec<u8>>,
    /// Whether to play a card other programs share (as over PC/SC).
    pub shared: bool,
}

impl ScriptedTransport {
    /// A transport that will give these answers.
    pub fn new(answers: impl IntoIterator<Item = Answer>) -> Self {
        Self {
            answers: answers.into_iter().collect(),
            sent: Vec::new(),
            extended: true,
            fallback: None,
            shared: false,
        }
    }

    /// A transport whose answers are hex strings (spaces allowed).
    pub fn hex(answers: &[&str]) -> Self {
        Self::new(
            answers
                .iter()
                .map(|a| Answer::Bytes(hex::decode(a.replace(' ', "")).unwrap_or_default())),
        )
    }
}

impl Exchange for ScriptedTransport {
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>> {
        self.sent.push(capdu.to_vec());
        match self.answers.pop_front() {
            Some(Answer::Bytes(b)) => Ok(b),
            Some(Answer::Silence) => Err(Error::Transport(
                "the card does not answer (timeout)".into(),
            )),
            None => Ok(self.fallback.clone().unwrap_or_else(|| vec![0x6F, 0x00])),
        }
    }
}

impl Transport for ScriptedTransport {
    fn extended_length(&self) -> bool {
        self.extended
    }

    fn exclusive(&mut self, f: &mut dyn FnMut(&mut dyn Exchange) -> Result<()>) -> Result<()> {
        f(self)
    }

    fn shared(&self) -> bool {
        self.shared
    }

    fn name(&self) -> String {
        "scripted card".to_owned()
    }

    fn apdu_count(&self) -> u64 {
        self.sent.len() as u64
    }
}
