//! Requests for the certification centre, `ca issue`, `cert load`.

use crate::checks::{assert_no_secret, sha256_hex, verifies};
use crate::lab::{FIN, Lab, NAME};

#[test]
fn requests_then_ca_issue_then_cert_load() {
    let lab = Lab::with_ca();
    let out = lab.card(
        "card.img",
        &[
            "provision",
            "--service",
            "citizen",
            "--requests",
            "requests",
            "--mailer",
            "mailer.jsonl",
            "--name",
            NAME,
            "--id",
            FIN,
        ],
        &[],
        None,
    );
    out.ok();
    let pins = lab.pins("mailer.jsonl", "card.img");
    assert_no_secret(&out, &[&pins.pin1, &pins.pin2, &pins.puk]);

    // The card is operational, with keys and without certificates.
    let info = lab.info("card.img");
    assert_eq!(info["life_cycle"], "operational", "{info:#}");
    assert_eq!(
        info["certificates"].as_array().unwrap().len(),
        0,
        "{info:#}"
    );

    // One request per key, each verified by openssl.
    let mut csrs: Vec<String> = std::fs::read_dir(lab.path("requests"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    csrs.sort();
    assert_eq!(
        csrs,
        [
            format!("{}-citizen-auth.csr", pins.serial),
            format!("{}-citizen-sign.csr", pins.serial)
        ]
    );
    for csr in &csrs {
        let path = format!("requests/{csr}");
        let verified = lab.openssl(&["req", "-verify", "-inform", "DER", "-noout", "-in", &path]);
        assert!(verified.contains("verify OK"), "{verified}");
        let subject = lab.openssl(&[
            "req",
            "-inform",
            "DER",
            "-in",
            &path,
            "-noout",
            "-subject",
            "-nameopt",
            "RFC2253,-esc_msb",
        ]);
        assert!(subject.contains(&format!("CN={NAME}")), "{subject}");
        assert!(
            subject.contains(&format!("serialNumber={FIN}")),
            "{subject}"
        );
    }
    let sign_csr = format!("requests/{}", csrs[1]);
    let auth_csr = format!("requests/{}", csrs[0]);

    // The CA issues, the operator loads.
    let out = lab.asan(&[
        "ca",
        "issue",
        "ca",
        &sign_csr,
        "--profile",
        "citizen",
        "--usage",
        "sign",
        "-o",
        "sign.pem",
    ]);
    out.ok();
    lab.openssl(&["verify", "-CAfile", "ca/root.pem", "sign.pem"]);
    let text = lab.openssl(&["x509", "-in", "sign.pem", "-text", "-noout"]);
    assert!(text.contains("Non Repudiation"), "{text}");
    let out = lab.card(
        "card.img",
        &[
            "cert",
            "load",
            "--profile",
            "citizen",
            "--usage",
            "sign",
            "sign.pem",
        ],
        &[],
        None,
    );
    assert!(out.ok().contains("loaded"), "{out:#?}");
    let loaded = lab.certificate("card.img", "citizen", "sign");
    assert_eq!(loaded, lab.openssl_der("sign.pem"));

    // The signing key signs and the loaded certificate verifies it.
    let digest = sha256_hex("document");
    let out = lab.sign("card.img", &pins.pin2, "citizen", &digest);
    assert!(verifies(&loaded, &digest, out.ok()));

    // A certificate for the other key is refused and changes nothing.
    let out = lab.asan(&[
        "ca",
        "issue",
        "ca",
        &auth_csr,
        "--profile",
        "citizen",
        "--usage",
        "auth",
        "-o",
        "auth.pem",
    ]);
    out.ok();
    let before = lab.info("card.img");
    let out = lab.card(
        "card.img",
        &[
            "cert",
            "load",
            "--profile",
            "citizen",
            "--usage",
            "sign",
            "auth.pem",
        ],
        &[],
        None,
    );
    out.code(1)
        .says("does not certify the card's citizen sign key");
    assert_eq!(lab.certificate("card.img", "citizen", "sign"), loaded);
    assert_eq!(lab.info("card.img")["keys"], before["keys"]);

    // Into its own slot it loads.
    lab.card(
        "card.img",
        &[
            "cert",
            "load",
            "--profile",
            "citizen",
            "--usage",
            "auth",
            "auth.pem",
        ],
        &[],
        None,
    )
    .ok();
    assert_eq!(
        lab.info("card.img")["certificates"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // The CA checks the request's subject against the profile.
    let out = lab.asan(&[
        "ca",
        "issue",
        "ca",
        &sign_csr,
        "--profile",
        "business",
        "--usage",
        "sign",
    ]);
    out.code(1).says("Business");
}
