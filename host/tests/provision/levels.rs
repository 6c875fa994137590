//! Both secure-channel levels with their APDU counts, and `asan demo`.

use crate::checks::{apdus, assert_no_secret, sha256_hex, verifies};
use crate::lab::{FIN, Lab, NAME, ORG};

#[test]
fn both_secure_channel_levels_provision() {
    let lab = Lab::with_ca();
    let mut counts = Vec::new();
    for (img, level, service) in [
        ("l03.img", "03", "government"),
        ("l33.img", "33", "government"),
        ("c03.img", "03", "citizen"),
        ("c33.img", "33", "citizen"),
    ] {
        let mailer = format!("{img}.jsonl");
        let out = lab.card(
            img,
            &[
                "--trace",
                "provision",
                "--service",
                service,
                "--level",
                level,
                "--ca",
                "ca",
                "--mailer",
                &mailer,
                "--name",
                NAME,
                "--id",
                FIN,
                "--org",
                ORG,
            ],
            &[],
            None,
        );
        out.ok();
        counts.push((img, apdus(&out.stderr)));
        let pins = lab.pins(&mailer, img);
        assert_no_secret(&out, &[&pins.pin1, &pins.pin2, &pins.puk]);
        let info = lab.info(img);
        assert_eq!(info["life_cycle"], "operational");
        assert_eq!(info["service"]["type"], service);
        let n = if service == "citizen" { 2 } else { 4 };
        assert_eq!(info["certificates"].as_array().unwrap().len(), n);
        let digest = sha256_hex(level);
        let profile = if service == "citizen" {
            "citizen"
        } else {
            "government"
        };
        let out = lab.sign(img, &pins.pin2, profile, &digest);
        let cert = lab.certificate(img, profile, "sign");
        assert!(verifies(&cert, &digest, out.ok()));
        if profile == "government" {
            std::fs::write(lab.path("gov.der"), &cert).unwrap();
            let subject = lab.openssl(&[
                "x509",
                "-inform",
                "DER",
                "-in",
                "gov.der",
                "-noout",
                "-subject",
                "-nameopt",
                "RFC2253,-esc_msb",
            ]);
            assert!(subject.contains(&format!("O={ORG}")), "{subject}");
            assert!(!subject.contains("organizationIdentifier"), "{subject}");
        }
    }
    // The documented figures (docs/operator-guide.md, "What happens, step
    // by step"): every command in the channel carries Le, so level 33 costs
    // no GET RESPONSE, and GENERATE KEY PAIR's public keys are reused; each
    // request is signed with PSO: CDS carrying its PIN2 (contract 1.1).
    assert_eq!(
        counts,
        [
            ("l03.img", 29),
            ("l33.img", 29),
            ("c03.img", 21),
            ("c33.img", 21)
        ],
        "APDUs per personalisation"
    );
}

#[test]
fn demo_tells_the_whole_story() {
    let lab = Lab::new();
    let out = lab.asan(&["demo"]);
    let text = out.ok();
    assert!(
        text.trim_end().ends_with("Done: every step worked."),
        "{text}"
    );
    for step in 1..=8 {
        let head = format!("{step}. ");
        assert!(
            text.lines().any(|l| l.starts_with(&head)),
            "step {step}: {text}"
        );
    }
    let out = lab.asan(&["--json", "demo"]);
    let v = out.json();
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(v["steps"].as_array().unwrap().len(), 8, "{v:#}");
}
