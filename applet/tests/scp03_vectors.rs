//! SCP03 (AES-128) against the pySim reference sessions in
//! `test-vectors/scp03/scp03-aes128.json` (see `SOURCE.md` there).

use std::error::Error;

use asan_applet::scp03::crypto::{self, card_challenge, key_check_value};
use asan_applet::scp03::{CardChannel, HostChannel, ScpError, SecurityLevel, StaticKeys};
use serde_json::Value;

type TestResult = Result<(), Box<dyn Error>>;

/// The SGP.22 ISD-R AID: the invoking AID of the reference sessions.
const ISD_R_AID: &str = "A0000005591010FFFFFFFF8900000100";

fn vectors() -> Result<Value, Box<dyn Error>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../test-vectors/scp03/scp03-aes128.json"
    );
    Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
}

fn hex_field(v: &Value, key: &str) -> Result<Vec<u8>, Box<dyn Error>> {
    let s = v
        .get(key)
        .and_then(Value::as_str)
        .ok_or(format!("missing {key}"))?;
    Ok(hex::decode(s)?)
}

fn hex_list(v: &Value, key: &str) -> Result<Vec<Vec<u8>>, Box<dyn Error>> {
    let list = v
        .get(key)
        .and_then(Value::as_array)
        .ok_or(format!("missing {key}"))?;
    list.iter()
        .map(|x| Ok(hex::decode(x.as_str().ok_or("not a string")?)?))
        .collect()
}

fn arr<const N: usize>(s: &[u8], start: usize) -> Result<[u8; N], Box<dyn Error>> {
    let part = s.get(start..start + N).ok_or("too short")?;
    Ok(part.try_into()?)
}

fn keys(v: &Value) -> Result<StaticKeys, Box<dyn Error>> {
    let k = v.get("keys").ok_or("missing keys")?;
    Ok(StaticKeys {
        enc: arr(&hex_field(k, "enc")?, 0)?,
        mac: arr(&hex_field(k, "mac")?, 0)?,
        dek: arr(&hex_field(k, "dek")?, 0)?,
        kvn: arr::<1>(&hex_field(k, "kvn")?, 0)?[0],
    })
}

/// A short C-APDU: header, data, Le (`00` → 256).
struct Apdu {
    header: [u8; 4],
    data: Vec<u8>,
    le: Option<usize>,
}

fn parse(apdu: &[u8]) -> Result<Apdu, Box<dyn Error>> {
    let header = arr::<4>(apdu, 0)?;
    let rest = apdu.get(4..).ok_or("short")?;
    let le_of = |b: u8| Some(if b == 0 { 256 } else { usize::from(b) });
    let (data, le) = match rest {
        [] => (Vec::new(), None),
        [le] => (Vec::new(), le_of(*le)),
        [lc, tail @ ..] => {
            let n = usize::from(*lc);
            let data = tail.get(..n).ok_or("Lc too long")?.to_vec();
            match tail.get(n..) {
                Some([]) => (data, None),
                Some([le]) => (data, le_of(*le)),
                _ => return Err("bad APDU length".into()),
            }
        }
    };
    Ok(Apdu { header, data, le })
}

/// Everything of one session, decoded.
struct Session {
    level: SecurityLevel,
    init_update: Vec<u8>,
    response: Vec<u8>,
    ext_auth: Vec<u8>,
    wrapped: Vec<Vec<u8>>,
    wrapped_first_response: Vec<u8>,
}

impl Session {
    fn host_challenge(&self) -> Result<[u8; 8], Box<dyn Error>> {
        arr(&self.init_update, 5)
    }
    fn card_challenge(&self) -> Result<[u8; 8], Box<dyn Error>> {
        arr(&self.response, 13)
    }
    fn seq(&self) -> Result<[u8; 3], Box<dyn Error>> {
        arr(&self.response, 29)
    }
    fn div(&self) -> Result<[u8; 10], Box<dyn Error>> {
        arr(&self.response, 0)
    }
    /// Card channel after INITIALIZE UPDATE with the vector's challenge.
    fn card(&self, keys: &StaticKeys) -> Result<(CardChannel, [u8; 32]), Box<dyn Error>> {
        let (hc, cc, seq, div) = (
            self.host_challenge()?,
            self.card_challenge()?,
            self.seq()?,
            self.div()?,
        );
        Ok(CardChannel::initialize_with_challenge(
            keys, &hc, cc, seq, &div,
        ))
    }
    /// EXTERNAL AUTHENTICATE as (header, data).
    fn ext_auth(&self) -> Result<([u8; 4], Vec<u8>), Box<dyn Error>> {
        let a = parse(&self.ext_auth)?;
        Ok((a.header, a.data))
    }
}

fn sessions(v: &Value) -> Result<Vec<Session>, Box<dyn Error>> {
    let list = v
        .get("sessions")
        .and_then(Value::as_array)
        .ok_or("missing sessions")?;
    list.iter()
        .map(|s| {
            let lvl = arr::<1>(&hex_field(s, "security_level")?, 0)?[0];
            Ok(Session {
                level: SecurityLevel::from_byte(lvl).ok_or("bad level")?,
                init_update: hex_field(s, "initialize_update")?,
                response: hex_field(s, "initialize_update_response")?,
                ext_auth: hex_field(s, "external_authenticate")?,
                wrapped: hex_list(s, "wrapped_commands")?,
                wrapped_first_response: hex_field(s, "wrapped_first_response_data")?,
            })
        })
        .collect()
}

#[test]
fn card_side_reproduces_sessions() -> TestResult {
    let v = vectors()?;
    let keys = keys(&v)?;
    let plain = hex_list(&v, "plain_commands")?;
    let plain_rsp = hex_field(&v, "plain_first_response")?;
    let all = sessions(&v)?;
    assert_eq!(all.len(), 3);
    for s in &all {
        let (mut card, resp) = s.card(&keys)?;
        assert_eq!(resp.as_slice(), s.response.as_slice());
        let (hdr, data) = s.ext_auth()?;
        assert_eq!(card.external_authenticate(hdr, &data), Ok(s.level));
        assert_eq!(card.level(), Some(s.level));
        assert_eq!(plain.len(), s.wrapped.len());
        for (i, (p, w)) in plain.iter().zip(&s.wrapped).enumerate() {
            let (p, w) = (parse(p)?, parse(w)?);
            assert_eq!(w.header[0] & !0x04, p.header[0]);
            assert_eq!(w.header[0], 0x84);
            assert_eq!(w.header[1..], p.header[1..]);
            assert_eq!(w.le, p.le);
            let mut out = [0u8; 300];
            let n = card.unwrap_command(w.header, false, &w.data, &mut out)?;
            assert_eq!(out.get(..n), Some(p.data.as_slice()), "command {i}");
            if i == 0 {
                let m = card.wrap_response(&plain_rsp, 0x9000, &mut out)?;
                assert_eq!(out.get(..m), Some(s.wrapped_first_response.as_slice()));
            }
        }
    }
    Ok(())
}

#[test]
fn host_side_reproduces_sessions() -> TestResult {
    let v = vectors()?;
    let keys = keys(&v)?;
    let plain = hex_list(&v, "plain_commands")?;
    let plain_rsp = hex_field(&v, "plain_first_response")?;
    for s in &sessions(&v)? {
        let hc = s.host_challenge()?;
        let iu = HostChannel::initialize_update_apdu(keys.kvn, &hc);
        assert_eq!(iu.as_slice(), s.init_update.as_slice());
        let (mut host, ea) = HostChannel::open(&keys, &hc, &s.response, s.level)?;
        assert_eq!(ea.as_slice(), s.ext_auth.as_slice());
        assert_eq!(host.sequence_counter(), s.seq()?);
        assert_eq!(host.card_challenge(), s.card_challenge()?);
        assert_eq!(host.i_param(), 0x70);
        for (i, (p, w)) in plain.iter().zip(&s.wrapped).enumerate() {
            let p = parse(p)?;
            let mut out = [0u8; 300];
            let n = host.wrap_command(p.header, &p.data, p.le, &mut out)?;
            assert_eq!(out.get(..n), Some(w.as_slice()), "command {i}");
            if i == 0 {
                let mut plain_out = [0u8; 64];
                let m = host.unwrap_response(&s.wrapped_first_response, 0x9000, &mut plain_out)?;
                assert_eq!(plain_out.get(..m), Some(plain_rsp.as_slice()));
            }
        }
    }
    Ok(())
}

#[test]
fn pseudo_random_challenge_is_derived_from_isd_r_aid() -> TestResult {
    let v = vectors()?;
    let keys = keys(&v)?;
    let isd_r = hex::decode(ISD_R_AID)?;
    for s in &sessions(&v)? {
        assert_eq!(
            card_challenge(&keys.enc, s.seq()?, &isd_r),
            s.card_challenge()?
        );
        // the GlobalPlatform ISD AIDs do not reproduce it
        for aid in ["A000000151000000", "A0000001510000", "A000000003000000"] {
            let aid = hex::decode(aid)?;
            assert_ne!(
                card_challenge(&keys.enc, s.seq()?, &aid),
                s.card_challenge()?
            );
        }
        // full INITIALIZE UPDATE with the derived challenge
        let (_, resp) =
            CardChannel::initialize(&keys, &s.host_challenge()?, s.seq()?, &isd_r, &s.div()?);
        assert_eq!(resp.as_slice(), s.response.as_slice());
    }
    Ok(())
}

#[test]
fn key_check_values_match_pysim() -> TestResult {
    let keys = keys(&vectors()?)?;
    assert_eq!(key_check_value(&keys.enc), [0xC3, 0x52, 0x80]);
    assert_eq!(key_check_value(&keys.mac), [0x01, 0x38, 0x08]);
    assert_eq!(key_check_value(&keys.dek), [0x84, 0x0D, 0xE5]);
    Ok(())
}

#[test]
fn negative_cases() -> TestResult {
    let v = vectors()?;
    let keys = keys(&v)?;
    for s in &sessions(&v)? {
        let (hdr, ea) = s.ext_auth()?;
        let opened = |card: &mut CardChannel| card.external_authenticate(hdr, &ea);

        // flipped bit in the host cryptogram / in its C-MAC / truncated
        for (i, expect) in [(3usize, ScpError::BadCryptogram), (12, ScpError::BadMac)] {
            let mut bad = ea.clone();
            bad[i] ^= 0x10;
            let (mut card, _) = s.card(&keys)?;
            assert_eq!(card.external_authenticate(hdr, &bad), Err(expect));
            assert_eq!(card.level(), None);
        }
        let (mut card, _) = s.card(&keys)?;
        assert_eq!(
            card.external_authenticate(hdr, &ea[..15]),
            Err(ScpError::WrongLength)
        );

        // wrong level byte: another valid level breaks the MAC, an invalid one is refused
        let other = if s.level.byte() == 0x01 { 0x03 } else { 0x01 };
        for (p1, expect) in [
            (other, ScpError::BadMac),
            (0x00, ScpError::BadLevel),
            (0x12, ScpError::BadLevel),
        ] {
            let (mut card, _) = s.card(&keys)?;
            let bad_hdr = [hdr[0], hdr[1], p1, hdr[3]];
            assert_eq!(card.external_authenticate(bad_hdr, &ea), Err(expect));
        }

        // flipped card cryptogram / wrong SCP / wrong kvn / truncated response
        let hc = s.host_challenge()?;
        let mut bad = s.response.clone();
        bad[22] ^= 0x01;
        let e = HostChannel::open(&keys, &hc, &bad, s.level).err();
        assert_eq!(e, Some(ScpError::BadCryptogram));
        let mut bad = s.response.clone();
        bad[11] = 0x02;
        assert_eq!(
            HostChannel::open(&keys, &hc, &bad, s.level).err(),
            Some(ScpError::UnsupportedScp)
        );
        let mut bad = s.response.clone();
        bad[10] = 0x31;
        let e = HostChannel::open(&keys, &hc, &bad, s.level).err();
        assert_eq!(e, Some(ScpError::KeyVersionMismatch));
        let e = HostChannel::open(&keys, &hc, &s.response[..31], s.level).err();
        assert_eq!(e, Some(ScpError::WrongLength));

        // C-MAC: flip one bit of the MAC, of the data, truncate the data
        let first = parse(s.wrapped.first().ok_or("no commands")?)?;
        let n = first.data.len();
        for tamper in 0..4 {
            let (mut card, _) = s.card(&keys)?;
            assert_eq!(opened(&mut card), Ok(s.level));
            let mut data = first.data.clone();
            let mut header = first.header;
            match tamper {
                0 => data[n - 1] ^= 0x01,
                1 => data[0] ^= 0x80,
                2 => data.truncate(n - 1),
                _ => header[2] ^= 0x01,
            }
            let mut out = [0u8; 64];
            let r = card.unwrap_command(header, false, &data, &mut out);
            assert!(r.is_err(), "tamper {tamper}");
            assert_eq!(card.level(), None);
            // also the "extended" flag is covered by the MAC
            let (mut card, _) = s.card(&keys)?;
            assert_eq!(opened(&mut card), Ok(s.level));
            let r = card.unwrap_command(first.header, true, &first.data, &mut out);
            assert_eq!(r, Err(ScpError::BadMac));
        }
        let (mut card, _) = s.card(&keys)?;
        assert_eq!(opened(&mut card), Ok(s.level));
        let mut out = [0u8; 64];
        assert_eq!(
            card.unwrap_command(first.header, false, &first.data[..7], &mut out),
            Err(ScpError::WrongLength)
        );

        // R-MAC: flipped bit / truncated response
        let plain_first = parse(hex_list(&v, "plain_commands")?.first().ok_or("none")?)?;
        for tamper in 0..2 {
            let (mut host, _) = HostChannel::open(&keys, &hc, &s.response, s.level)?;
            let mut apdu = [0u8; 64];
            host.wrap_command(
                plain_first.header,
                &plain_first.data,
                plain_first.le,
                &mut apdu,
            )?;
            let mut rsp = s.wrapped_first_response.clone();
            let m = rsp.len();
            if tamper == 0 {
                rsp[m - 3] ^= 0x04;
            } else {
                rsp.truncate(m - 1);
            }
            let mut out = [0u8; 64];
            let r = host.unwrap_response(&rsp, 0x9000, &mut out);
            if s.level.r_mac() {
                assert!(r.is_err(), "R-MAC tamper {tamper}");
                assert!(!host.is_open());
            } else {
                // level 03: the response is not protected and passes through
                assert_eq!(r, Ok(rsp.len()));
            }
        }
    }
    Ok(())
}

#[test]
fn crypto_helpers_are_consistent_with_vectors() -> TestResult {
    let v = vectors()?;
    let keys = keys(&v)?;
    for s in &sessions(&v)? {
        let (hc, cc) = (s.host_challenge()?, s.card_challenge()?);
        let sk = crypto::derive_session_keys(&keys, &hc, &cc);
        assert_eq!(
            crypto::card_cryptogram(&sk.mac, &hc, &cc),
            arr::<8>(&s.response, 21)?
        );
        assert_eq!(
            crypto::host_cryptogram(&sk.mac, &hc, &cc),
            arr::<8>(&s.ext_auth, 5)?
        );
    }
    Ok(())
}
