//! `asan cert read`: to DER and PEM files or stdout; absent and broken
//! certificates.

use crate::checks::{openssl_dates, pem_to_der};
use crate::harness::{BROKEN, CITIZEN_AUTH, Image, asan, write_certificates};

#[test]
fn cert_read_to_a_der_or_pem_file_or_to_stdout() {
    let image = Image::with_certificates();
    let sign_der = std::fs::read(image.file("sign.der")).unwrap();
    let auth_der = std::fs::read(image.file("auth.der")).unwrap();

    // -o FILE: DER.
    let file = image.file("read-sign.der");
    let out = asan(image.arg())
        .cmd("cert read --profile citizen --usage sign -o")
        .args(&[file.to_str().unwrap()])
        .run();
    let msg = out.ok();
    assert!(
        msg.contains(file.to_str().unwrap()) && msg.contains("citizen sign"),
        "{msg}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), sign_der);

    // --output FILE --pem.
    let file = image.file("read-auth.pem");
    asan(image.arg())
        .cmd("cert read --profile citizen --usage auth --pem --output")
        .args(&[file.to_str().unwrap()])
        .run()
        .ok();
    let pem = std::fs::read_to_string(&file).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert!(pem.ends_with("-----END CERTIFICATE-----\n"));
    assert_eq!(pem_to_der(&image, &pem), auth_der);

    // No file: PEM on stdout (with or without --pem).
    for extra in [&[][..], &["--pem"][..]] {
        let out = asan(image.arg())
            .cmd("cert read --profile citizen --usage sign")
            .args(extra)
            .run();
        assert!(out.ok().starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(out.ok().lines().all(|l| l.len() <= 64));
        assert_eq!(pem_to_der(&image, out.ok()), sign_der);
    }

    // --json: the summary and the PEM (and the file when written).
    let (not_before, not_after) = openssl_dates(&image, &sign_der);
    let v = asan(image.arg())
        .cmd("--json cert read --profile citizen --usage sign")
        .run()
        .json();
    assert_eq!(v["profile"], "citizen");
    assert_eq!(v["usage"], "sign");
    assert_eq!(v["subject"], "SERIALNUMBER=7GH2K4P,CN=Test Citizen");
    assert_eq!(v["issuer"], "CN=Test Asan CA");
    assert_eq!(v["not_before"], not_before.as_str());
    assert_eq!(v["not_after"], not_after.as_str());
    assert_eq!(pem_to_der(&image, v["pem"].as_str().unwrap()), sign_der);
    let file = image.file("json.der");
    let v = asan(image.arg())
        .cmd("--json cert read --profile citizen --usage sign -o")
        .args(&[file.to_str().unwrap()])
        .run()
        .json();
    assert_eq!(v["file"], file.to_str().unwrap());
    assert_eq!(std::fs::read(&file).unwrap(), sign_der);
}

#[test]
fn cert_read_of_an_absent_or_broken_certificate() {
    let image = Image::personalised();
    let file = image.file("none.der");
    asan(image.arg())
        .cmd("cert read --profile citizen --usage sign -o")
        .args(&[file.to_str().unwrap()])
        .run()
        .fails(1, "not on the card");
    assert!(!file.exists(), "no file for an absent certificate");
    asan(image.arg())
        .cmd("cert read --profile business --usage auth")
        .run()
        .fails(1, "not on the card");
    asan(image.arg())
        .cmd("--json cert read --profile government --usage sign")
        .run()
        .fails(1, "not on the card");

    write_certificates(&image.path, &[(CITIZEN_AUTH, BROKEN.to_vec())]);
    asan(image.arg())
        .cmd("cert read --profile citizen --usage auth")
        .run()
        .fails(1, "certificate problem: not a valid X.509 certificate");

    let good = Image::with_certificates();
    let nowhere = good.file("no/such/dir/cert.der");
    asan(good.arg())
        .cmd("cert read --profile citizen --usage sign -o")
        .args(&[nowhere.to_str().unwrap()])
        .run()
        .fails(1, nowhere.to_str().unwrap());

    for args in [
        &["cert", "read", "--profile", "citizen"][..],
        &["cert", "read", "--usage", "sign"][..],
        &["cert", "read", "--profile", "personal", "--usage", "sign"][..],
        &["cert", "read", "--profile", "citizen", "--usage", "encrypt"][..],
        &["cert"][..],
    ] {
        asan(good.arg()).args(args).run().usage_error();
    }
}
