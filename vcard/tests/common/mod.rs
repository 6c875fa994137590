//! Test helpers: a fake vpcd (the pcscd side of the socket), and
//! personalisation of a card through any transmit function.
#![allow(dead_code, unused_imports)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// The pcscd side of a vpcd connection: listens, accepts the card, sends
/// control messages and APDUs.
pub struct FakeVpcd {
    pub listener: TcpListener,
    pub stream: Option<TcpStream>,
}

impl FakeVpcd {
    pub fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Self {
            listener,
            stream: None,
        }
    }

    pub fn address(&self) -> String {
        self.listener.local_addr().unwrap().to_string()
    }

    pub fn accept(&mut self) {
        let (s, _) = self.listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        self.stream = Some(s);
    }

    fn send(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let s = self.stream.as_mut().unwrap();
        let mut msg = (payload.len() as u16).to_be_bytes().to_vec();
        msg.extend_from_slice(payload);
        s.write_all(&msg)
    }

    fn recv(&mut self) -> std::io::Result<Vec<u8>> {
        let s = self.stream.as_mut().unwrap();
        let mut len = [0u8; 2];
        s.read_exact(&mut len)?;
        let mut payload = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut payload)?;
        Ok(payload)
    }

    pub fn control(&mut self, code: u8) {
        self.send(&[code]).unwrap();
    }

    pub fn atr(&mut self) -> Vec<u8> {
        self.send(&[4]).unwrap();
        self.recv().unwrap()
    }

    pub fn try_transmit(&mut self, capdu: &[u8]) -> std::io::Result<Vec<u8>> {
        self.send(capdu)?;
        self.recv()
    }

    pub fn transmit(&mut self, capdu: &[u8]) -> Vec<u8> {
        self.try_transmit(capdu).unwrap()
    }
}

pub fn sw(rapdu: &[u8]) -> u16 {
    operator::status(rapdu)
}

#[path = "../../../tests/src/operator.rs"]
mod operator;

pub use operator::{Operator, PIN1, block, personalise};

/// A DER-framed stand-in certificate of 4096 bytes filled with `fill`.
pub fn certificate(fill: u8) -> Vec<u8> {
    operator::certificate(4096, fill)
}
