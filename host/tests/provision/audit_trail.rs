//! The audit trail of provisioning and rotation (issue 17): it verifies, an
//! edit is caught, a recorded head catches a cut or rewritten end, and a
//! torn last line is cut and recorded by the next run.

use crate::lab::{Lab, pin_env};
use crate::master_keys::{MASTER, MASTER2, serial};

#[test]
fn the_audit_trail_of_provisioning_verifies_and_an_edit_is_caught() {
    let lab = Lab::with_ca();
    lab.write_keys("master.keys", MASTER);
    for img in ["a.img", "b.img"] {
        lab.info(img);
        lab.provision_with_pins(
            img,
            "citizen",
            &[
                "--master-keys",
                "master.keys",
                "--audit",
                "audit.jsonl",
                "--station",
                "st-7",
            ],
        )
        .ok();
    }
    // A card already done: a `skipped` line.
    lab.provision_with_pins(
        "a.img",
        "citizen",
        &[
            "--master-keys",
            "master.keys",
            "--audit",
            "audit.jsonl",
            "--station",
            "st-7",
        ],
    )
    .ok();
    let out = lab.asan(&["audit", "verify", "audit.jsonl"]);
    assert!(out.ok().contains("whole, 3 lines"), "{out:#?}");
    let text = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (sa, sb) = (serial(&lab, "a.img"), serial(&lab, "b.img"));
    assert_eq!(lines[0]["serial"], sa.as_str());
    assert_eq!(lines[1]["serial"], sb.as_str());
    assert_eq!(lines[2]["serial"], sa.as_str());
    let results: Vec<&str> = lines
        .iter()
        .map(|l| l["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["personalised", "personalised", "skipped"]);
    for l in &lines[..2] {
        assert_eq!(l["station"], "st-7");
        assert_eq!(l["key_version"], 0x31);
        assert_eq!(l["service"], "citizen");
        let certs = l["certificates"].as_array().unwrap();
        assert_eq!(certs.len(), 2, "{l}");
        for c in certs {
            assert_eq!(c["sha256"].as_str().unwrap().len(), 64);
            assert!(!c["serial"].as_str().unwrap().is_empty());
        }
    }
    // The fingerprint is the certificate's on the card.
    use sha2::Digest as _;
    let der = lab.certificate("a.img", "citizen", "sign");
    let fp = hex::encode(sha2::Sha256::digest(&der));
    assert!(
        lines[0]["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["sha256"] == fp.as_str())
    );
    // Never a PIN.
    for pin in [crate::lab::PIN1, crate::lab::PIN2, crate::lab::PUK] {
        assert!(!text.contains(&format!("\"{pin}\"")), "{pin}");
    }
    let _ = pin_env();
    // An edited line is caught, and so is a removed one.
    let edited = text.replacen(&sb, "0000000000", 1);
    std::fs::write(lab.path("edited.jsonl"), edited).unwrap();
    lab.asan(&["audit", "verify", "edited.jsonl"])
        .code(1)
        .says("line 2: edited");
    let removed: Vec<&str> = text.lines().collect();
    std::fs::write(
        lab.path("gap.jsonl"),
        format!("{}\n{}\n", removed[0], removed[2]),
    )
    .unwrap();
    lab.asan(&["audit", "verify", "gap.jsonl"])
        .code(1)
        .says("line 2: gap");
}

/// `audit trail: N line(s), head H` on stderr: the head a command left.
fn told_head(out: &crate::common::run::Out, lines: u64) -> String {
    let s = if lines == 1 { "" } else { "s" };
    let prefix = format!("audit trail: {lines} line{s}, head ");
    let line = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no `{prefix}…` line: {out:#?}"));
    assert_eq!(line.len(), 64, "{line}");
    line.to_owned()
}

/// The hash of the last line of the trail.
fn last_hash(text: &str) -> String {
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    last["hash"].as_str().unwrap().to_owned()
}

#[test]
fn the_recorded_head_catches_lines_cut_from_the_end_or_the_last_line_rewritten() {
    let lab = Lab::with_ca();
    lab.write_keys("master.keys", MASTER);
    lab.write_keys("master2.keys", MASTER2);
    let audit = ["--audit", "audit.jsonl", "--station", "st-2"];
    let extra = [&["--master-keys", "master.keys"][..], &audit[..]].concat();
    // Each command that appends tells the operator the new head.
    lab.info("a.img");
    let out = lab.provision_with_pins("a.img", "citizen", &extra);
    out.ok();
    let h1 = told_head(&out, 1);
    let text = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();
    assert_eq!(h1, last_hash(&text));
    // With --json, the report carries it too.
    lab.info("b.img");
    let mut args = extra.clone();
    args.push("--json");
    let out = lab.provision_with_pins("b.img", "citizen", &args);
    let v = out.json();
    let h2 = told_head(&out, 2);
    assert_eq!(v["audit_head"], h2.as_str());
    assert_eq!(v["result"], "personalised");
    let text = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();
    assert_eq!(h2, last_hash(&text));
    let mut rotate = vec![
        "--json",
        "--virtual",
        "a.img",
        "keys",
        "rotate",
        "--master-keys",
        "master.keys",
        "--new-master-keys",
        "master2.keys",
    ];
    rotate.extend_from_slice(&audit);
    let out = lab.run(&rotate, &[], None);
    let v = out.json();
    let h3 = told_head(&out, 3);
    assert_eq!(v["audit_head"], h3.as_str());
    assert_eq!(v["cards"][0]["result"], "rotated");
    let text = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();
    assert_eq!(h3, last_hash(&text));
    // Without --json: the stderr line only.
    let out = lab.card("a.img", &rotate[3..], &[], None);
    assert!(out.ok().contains("already"), "{out:#?}");
    let h4 = told_head(&out, 4);
    let text = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();
    assert_eq!(h4, last_hash(&text));

    // The whole trail with a head recorded earlier: found, lines after it.
    let v = lab
        .asan(&["--json", "audit", "verify", "audit.jsonl", "--head", &h2])
        .json();
    assert_eq!(v["lines"], 4);
    assert_eq!(v["head"], h4.as_str());
    assert_eq!(v["anchor"]["hash"], h2.as_str());
    assert_eq!(v["anchor"]["line"], 2);
    assert_eq!(v["anchor"]["later_lines"], 2);
    let out = lab.asan(&[
        "audit",
        "verify",
        "audit.jsonl",
        "--head",
        &h4.to_uppercase(),
    ]);
    assert!(
        out.ok()
            .contains(&format!("recorded head {h4} is line 4, 0 lines after it")),
        "{out:#?}"
    );
    let v = lab
        .asan(&["--json", "audit", "verify", "audit.jsonl"])
        .json();
    assert!(v.get("anchor").is_none(), "{v}");

    // The last line cut: the chain alone is whole (the limitation), the
    // recorded head catches it.
    let lines: Vec<&str> = text.lines().collect();
    let cut = format!("{}\n", lines[..3].join("\n"));
    std::fs::write(lab.path("cut.jsonl"), &cut).unwrap();
    assert!(
        lab.asan(&["audit", "verify", "cut.jsonl"])
            .ok()
            .contains("whole, 3 lines")
    );
    lab.asan(&["audit", "verify", "cut.jsonl", "--head", &h4])
        .code(1)
        .says(&format!(
            "the recorded head {h4} is not in the trail: lines were cut from its end or rewritten"
        ));
    // An earlier head still verifies the cut trail: only what follows it
    // is covered.
    lab.asan(&["audit", "verify", "cut.jsonl", "--head", &h3])
        .ok();

    // The last line rewritten, its hash recomputed: whole without the head,
    // caught with it.
    use sha2::Digest as _;
    let last = lines[3];
    let open = &last[..last.len() - (9 + 64 + 2)];
    assert!(open.contains("\"result\":\"already\""), "{open}");
    let open = open.replace("\"result\":\"already\"", "\"result\":\"failed\"");
    let hash = hex::encode(sha2::Sha256::digest(format!("{open}}}").as_bytes()));
    let rewritten = format!("{}\n{open},\"hash\":\"{hash}\"}}\n", lines[..3].join("\n"));
    std::fs::write(lab.path("rewritten.jsonl"), &rewritten).unwrap();
    let v = lab
        .asan(&["--json", "audit", "verify", "rewritten.jsonl"])
        .json();
    assert_eq!(v["lines"], 4);
    assert_eq!(v["head"], hash.as_str());
    lab.asan(&["audit", "verify", "rewritten.jsonl", "--head", &h4])
        .code(1)
        .says("is not in the trail");
    // A head that is not a SHA-256 in hex: a usage error.
    lab.asan(&["audit", "verify", "audit.jsonl", "--head", "5c1e"])
        .code(2)
        .says("64 hex digits");
}

#[test]
fn a_torn_last_line_is_reported_until_the_next_run_cuts_and_records_it() {
    let lab = Lab::with_ca();
    lab.write_keys("master.keys", MASTER);
    let audit = ["--master-keys", "master.keys", "--audit", "audit.jsonl"];
    lab.info("a.img");
    lab.provision_with_pins("a.img", "citizen", &audit).ok();
    // A power cut while the second line was written.
    let mut bytes = std::fs::read(lab.path("audit.jsonl")).unwrap();
    let whole = bytes.len();
    bytes.extend_from_slice(b"{\"certificates\":[],\"err");
    std::fs::write(lab.path("audit.jsonl"), &bytes).unwrap();
    lab.asan(&["audit", "verify", "audit.jsonl"])
        .code(1)
        .says("the last line is incomplete");
    // The next run cuts it, records the cut and its own card.
    lab.info("b.img");
    let out = lab.provision_with_pins("b.img", "citizen", &audit);
    out.ok();
    let h = told_head(&out, 3);
    let text = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();
    assert_eq!(text.as_bytes()[..whole], bytes[..whole]);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[1]["event"], "recovered");
    assert_eq!(lines[1]["result"], "cut");
    let said = lines[1]["error"].as_str().unwrap();
    assert!(
        said.starts_with("a torn last line of 23 bytes (SHA-256 ") && said.ends_with(") was cut"),
        "{said}"
    );
    assert_eq!(lines[2]["serial"], serial(&lab, "b.img").as_str());
    lab.asan(&["audit", "verify", "audit.jsonl", "--head", &h])
        .ok();
}
