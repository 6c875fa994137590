//! The hostile answers: wrong whatever the command, and malformed data for
//! each kind of position.

use asan_host::transport::scripted::Answer;

use crate::cases::{Hostile, Want, hostile, looping};
use crate::common::{certificate, hx};
use crate::ops::{
    INFO, OK, PIN_STATUS, POINT_G, Slot, ok, okh, public_key_answer, signature_answer,
};

/// Answers that are wrong whatever the command.
pub fn generic() -> Vec<Hostile> {
    let mut v = vec![
        hostile("empty", vec![], Want::Invalid),
        hostile("one byte 90", vec![0x90], Want::Invalid),
        hostile("one byte 61", vec![0x61], Want::Invalid),
        hostile("garbage DEADBEEF", hx("DEADBEEF"), Want::Status(0xBEEF)),
        {
            let g: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
            let sw = u16::from_be_bytes([g[298], g[299]]);
            hostile("garbage, 300 bytes", g, Want::Status(sw))
        },
        hostile(
            "oversized 70000 bytes + 9000",
            ok(&vec![0x30; 70_000]),
            Want::Invalid,
        ),
        looping("61 10 forever", hx("6110"), Want::Invalid),
        looping(
            "61 00 forever with 256 bytes each",
            [vec![0xAB; 256], hx("6100")].concat(),
            Want::Invalid,
        ),
        looping("6C 10 loop", hx("6C10"), Want::Invalid),
        looping("6C 00 loop", hx("6C00"), Want::Invalid),
        Hostile {
            name: "silence (timeout)".to_owned(),
            answer: Answer::Silence,
            forever: None,
            want: Want::Transport,
        },
    ];
    for sw in [
        0x9001u16, 0x6400, 0x0000, 0xFFFF, 0x6A99, 0x6F00, 0x1234, 0x6D00, 0x6E00, 0x6700,
    ] {
        v.push(hostile(
            &format!("unknown SW {sw:04X}"),
            sw.to_be_bytes().to_vec(),
            Want::Status(sw),
        ));
    }
    v.push(hostile(
        "data with unknown SW 6400",
        hx("0102 6400"),
        Want::Status(0x6400),
    ));
    v
}

/// Malformed data for a position that expects data of this kind.
pub fn malformed(slot: Slot) -> Vec<Hostile> {
    let info = hx(INFO);
    let cert = certificate();
    let sig = Want::Invalid;
    match slot {
        Slot::Select | Slot::NoData => vec![],
        Slot::Info => vec![
            hostile("9000 without data", hx(OK), Want::Invalid),
            hostile(
                "truncated by 10 bytes",
                ok(&info[..info.len() - 10]),
                Want::Invalid,
            ),
            hostile("only the tag", okh("6E"), Want::Invalid),
            hostile(
                "wrong outer tag 6F",
                ok(&[&[0x6F], &info[1..]].concat()),
                Want::Invalid,
            ),
            hostile(
                "trailing byte",
                ok(&[&info[..], &[0x00]].concat()),
                Want::Invalid,
            ),
            hostile("length 82 FFFF", okh("6E82FFFF C003000101"), Want::Invalid),
            hostile(
                "length form 84",
                okh("6E84000000 05 C003000101"),
                Want::Invalid,
            ),
            hostile("empty template", okh("6E00"), Want::Invalid),
            hostile(
                "no PIN status",
                okh("6E1C C003000101 C1089A3744504560639E C20105 C60430000001 C3020101"),
                Want::Invalid,
            ),
            hostile("no version", okh("6E05 C20105 C100"), Want::Invalid),
            hostile(
                "serial of 7 bytes",
                ok(&info
                    .iter()
                    .copied()
                    .enumerate()
                    .map(|(i, b)| if i == 8 { 0x07 } else { b })
                    .collect::<Vec<u8>>()),
                Want::Invalid,
            ),
            hostile(
                "unknown life cycle 07",
                okh(
                    "6E44 C003000101 C1089A3744504560639E C20107 C3020101 C40C810303018203030183 0A0A01 C518110100001200000013000000210100002200000023000000 C60430000001",
                ),
                Want::Invalid,
            ),
            hostile(
                "unknown service 04",
                okh(
                    "6E44 C003000101 C1089A3744504560639E C20105 C3020401 C40C810303018203030183 0A0A01 C518110100001200000013000000210100002200000023000000 C60430000001",
                ),
                Want::Invalid,
            ),
            hostile(
                "tries above the limit",
                okh(
                    "6E44 C003000101 C1089A3744504560639E C20105 C3020101 C40C810503018203030183 0A0A01 C518110100001200000013000000210100002200000023000000 C60430000001",
                ),
                Want::Invalid,
            ),
            hostile(
                "unknown key reference 31",
                okh(
                    "6E44 C003000101 C1089A3744504560639E C20105 C3020101 C40C810303018203030183 0A0A01 C518310100001200000013000000210100002200000023000000 C60430000001",
                ),
                Want::Invalid,
            ),
            hostile(
                "the PIN status object instead",
                okh(PIN_STATUS),
                Want::Invalid,
            ),
            hostile(
                "a public key instead",
                public_key_answer(POINT_G),
                Want::Invalid,
            ),
            hostile("a signature instead", signature_answer(64), Want::Invalid),
        ],
        Slot::Pins => vec![
            hostile("9000 without data", hx(OK), Want::Invalid),
            hostile("truncated", okh("C40C 81030301 82030301"), Want::Invalid),
            hostile(
                "11 bytes",
                okh("C40B 81030301 82030301 830A0A"),
                Want::Invalid,
            ),
            hostile(
                "wrong tag C5",
                okh("C50C 81030301 82030301 830A0A01"),
                Want::Invalid,
            ),
            hostile(
                "two-byte tag",
                okh("7F490C 81030301 82030301 830A0A01"),
                Want::Invalid,
            ),
            hostile(
                "PIN1 three times",
                okh("C40C 81030301 81030301 81030301"),
                Want::Invalid,
            ),
            hostile(
                "unknown PIN reference",
                okh("C40C 81030301 82030301 840A0A01"),
                Want::Invalid,
            ),
            hostile(
                "limit 0",
                okh("C40C 81000001 82030301 830A0A01"),
                Want::Invalid,
            ),
            hostile(
                "limit 16",
                okh("C40C 81031001 82030301 830A0A01"),
                Want::Invalid,
            ),
            hostile(
                "set flag 02",
                okh("C40C 81030302 82030301 830A0A01"),
                Want::Invalid,
            ),
            hostile(
                "trailing bytes",
                okh("C40C 81030301 82030301 830A0A01 0000"),
                Want::Invalid,
            ),
            hostile("the whole 6E instead", okh(INFO), Want::Invalid),
        ],
        Slot::Serial => vec![
            hostile("9000 without data", hx(OK), Want::Invalid),
            hostile("truncated", okh("C108 9A37445045"), Want::Invalid),
            hostile("wrong tag C2", okh("C20105"), Want::Invalid),
            hostile(
                "trailing bytes",
                okh("C108 9A3744504560639E 00"),
                Want::Invalid,
            ),
            hostile("the whole 6E instead", okh(INFO), Want::Invalid),
            hostile("a signature instead", signature_answer(64), Want::Invalid),
        ],
        Slot::Signature => vec![
            hostile("9000 without data", hx(OK), sig),
            hostile("signature of 63 bytes", signature_answer(63), sig),
            hostile("signature of 65 bytes", signature_answer(65), sig),
            hostile("signature of 1 byte", signature_answer(1), sig),
            hostile("signature of 128 bytes", signature_answer(128), sig),
            hostile(
                "DER-encoded signature (72 bytes)",
                ok(&[
                    &hx("3046022100")[..],
                    &[0x11; 32],
                    &hx("022100"),
                    &[0x22; 32],
                ]
                .concat()),
                sig,
            ),
            hostile("a public key instead", public_key_answer(POINT_G), sig),
            hostile("the PIN status instead", okh(PIN_STATUS), sig),
            looping(
                "64 bytes then 61 40 forever",
                [vec![0x5C; 64], hx("6140")].concat(),
                Want::Invalid,
            ),
        ],
        Slot::PublicKey => vec![
            hostile("9000 without data", hx(OK), Want::Invalid),
            hostile(
                "point not on the curve",
                public_key_answer(&POINT_G.replace("51F5", "51F6")),
                Want::Invalid,
            ),
            hostile(
                "all-zero point",
                public_key_answer(&format!("04{}", "00".repeat(64))),
                Want::Invalid,
            ),
            hostile(
                "point without the 04 prefix",
                public_key_answer(&POINT_G[3..]),
                Want::Invalid,
            ),
            hostile(
                "point with prefix 05",
                public_key_answer(&format!("05{}", &POINT_G[3..])),
                Want::Invalid,
            ),
            hostile(
                "point of 64 bytes",
                public_key_answer(&POINT_G[..POINT_G.len() - 2]),
                Want::Invalid,
            ),
            hostile("identity 00", public_key_answer("00"), Want::Invalid),
            hostile("empty point", public_key_answer(""), Want::Invalid),
            hostile(
                "wrong outer tag 7F48",
                {
                    let mut a = public_key_answer(POINT_G);
                    a[1] = 0x48;
                    a
                },
                Want::Invalid,
            ),
            hostile(
                "wrong inner tag 87",
                {
                    let mut a = public_key_answer(POINT_G);
                    a[3] = 0x87;
                    a
                },
                Want::Invalid,
            ),
            hostile(
                "outer length too long",
                {
                    let mut a = public_key_answer(POINT_G);
                    a[2] = 0x44;
                    a
                },
                Want::Invalid,
            ),
            hostile(
                "inner length too short",
                {
                    let mut a = public_key_answer(POINT_G);
                    a[4] = 0x40;
                    a
                },
                Want::Invalid,
            ),
            hostile(
                "truncated by one byte",
                {
                    let a = public_key_answer(POINT_G);
                    [&a[..a.len() - 3], &a[a.len() - 2..]].concat()
                },
                Want::Invalid,
            ),
            hostile(
                "trailing byte",
                {
                    let a = public_key_answer(POINT_G);
                    [&a[..a.len() - 2], &[0x00], &a[a.len() - 2..]].concat()
                },
                Want::Invalid,
            ),
            hostile("bare point without TLV", okh(POINT_G), Want::Invalid),
            hostile("a signature instead", signature_answer(64), Want::Invalid),
            hostile("the whole 6E instead", okh(INFO), Want::Invalid),
        ],
        Slot::Certificate => vec![
            hostile("9000 without data", hx(OK), Want::Invalid),
            hostile("offset error / end of file 6B00", hx("6B00"), Want::AnyErr),
            looping(
                "an incomplete SEQUENCE, 256 bytes forever",
                ok(&[&hx("3082FFFF")[..], &[0xAA; 252]].concat()),
                Want::BadCertificate,
            ),
            looping(
                "256 zero bytes forever",
                ok(&[0u8; 256]),
                Want::BadCertificate,
            ),
            hostile(
                "truncated certificate, then the card stops answering",
                ok(&cert[..100]),
                Want::AnyErr,
            ),
            hostile(
                "not DER at all, file ends",
                ok(&hx("DEADBEEF")),
                Want::AnyErr,
            ),
        ],
    }
}
