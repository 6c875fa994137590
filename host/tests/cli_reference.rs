//! The command-line reference (`docs/cli.md`) cannot drift from the command
//! line: every command and subcommand, every option, and every JSON key the
//! commands print (the `json!` objects of `src/cli/`) must appear in it.
//! The man pages and the completions are generated from the parser itself
//! (`asan man`, `asan completions`), so they cannot drift either; checked
//! here too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::process::Command;

use asan_host::cli::Cli;
use clap::CommandFactory;

fn reference() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/cli.md")).unwrap()
}

/// Every command path (`asan ca init`) and the long options of each.
fn commands() -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut stack = vec![(String::from("asan"), Cli::command())];
    while let Some((path, cmd)) = stack.pop() {
        let options: Vec<String> = cmd
            .get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .filter(|l| l != "--help" && l != "--version")
            .collect();
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            stack.push((format!("{path} {}", sub.get_name()), sub.clone()));
        }
        out.push((path, options));
    }
    out
}

#[test]
fn every_command_and_option_is_in_the_reference() {
    let text = reference();
    let mut missing = Vec::new();
    for (path, options) in commands() {
        if !text.contains(&path) {
            missing.push(path.clone());
        }
        for o in options {
            if !text.contains(o.as_str()) {
                missing.push(format!("{path} {o}"));
            }
        }
    }
    assert!(missing.is_empty(), "docs/cli.md lacks: {missing:#?}");
}

/// The keys of the `json!` objects in the command line's sources.
fn json_keys() -> BTreeSet<String> {
    let mut files = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/cli"
    ))];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut keys = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("json!(") {
            rest = &rest[at + 6..];
            // The macro's body: up to its closing parenthesis.
            let mut depth = 1;
            let mut end = 0;
            for (i, c) in rest.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    end = i;
                    break;
                }
            }
            let body = &rest[..end];
            let mut b = body;
            while let Some(q) = b.find('"') {
                let after = &b[q + 1..];
                let Some(close) = after.find('"') else { break };
                let key = &after[..close];
                let tail = after[close + 1..].trim_start();
                if tail.starts_with(':')
                    && !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit())
                {
                    keys.insert(key.to_owned());
                }
                b = &after[close + 1..];
            }
        }
    }
    keys
}

#[test]
fn every_json_key_is_in_the_reference() {
    let text = reference();
    let keys = json_keys();
    assert!(keys.len() > 30, "the scan found too few keys: {keys:?}");
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| !text.contains(&format!("`{k}`")) && !text.contains(&format!("\"{k}\"")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/cli.md lacks the JSON keys {missing:?}"
    );
}

#[test]
fn man_pages_and_completions_come_from_the_parser() {
    let asan = env!("CARGO_BIN_EXE_asan");
    let page = Command::new(asan).arg("man").output().unwrap();
    assert!(page.status.success());
    let page = String::from_utf8(page.stdout).unwrap();
    assert!(
        page.starts_with(".ie") && page.contains(".TH asan 1"),
        "{page}"
    );
    for (path, _) in commands()
        .iter()
        .filter(|(p, _)| p.matches(' ').count() == 1)
    {
        let sub = path.trim_start_matches("asan ");
        assert!(page.contains(sub), "asan(1) does not name {sub}");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(asan)
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    for name in ["asan.1", "asan-sign.1", "asan-ca-init.1", "asan-verify.1"] {
        assert!(dir.path().join(name).is_file(), "no {name}");
    }
    for (shell, needle, option) in [
        ("bash", "complete -F _asan", "--pades"),
        ("zsh", "#compdef asan", "--pades"),
        ("fish", "complete -c asan", "-l pades"),
    ] {
        let out = Command::new(asan)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains(needle), "{shell}: {script}");
        assert!(script.contains(option), "{shell} completes the options");
    }
}

/// Runs `shell args…` and returns its standard output (it must succeed).
fn shell(shell: &str, args: &[&str]) -> String {
    let out = Command::new(shell)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{shell} is needed (.ci/run installs it): {e}"));
    assert!(out.status.success(), "{shell} {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn completions_load_and_complete_in_real_shells() {
    let asan = env!("CARGO_BIN_EXE_asan");
    let dir = tempfile::tempdir().unwrap();
    for (name, file) in [
        ("bash", "asan.bash"),
        ("zsh", "_asan"),
        ("fish", "asan.fish"),
    ] {
        let out = Command::new(asan)
            .args(["completions", name])
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}");
        std::fs::write(dir.path().join(file), out.stdout).unwrap();
    }
    let path = |f: &str| dir.path().join(f).display().to_string();

    // bash: loaded as bash-completion would, then asked as bash asks.
    let bash = shell(
        "bash",
        &[
            "-c",
            &format!(
                "source '{}' && complete -p asan && \
                 COMP_WORDS=(asan prov) COMP_CWORD=1 && _asan asan prov asan && echo \"[${{COMPREPLY[*]}}]\" && \
                 COMP_WORDS=(asan keys rotate --new) COMP_CWORD=3 && _asan asan --new rotate && echo \"[${{COMPREPLY[*]}}]\"",
                path("asan.bash")
            ),
        ],
    );
    assert!(bash.contains("-F _asan asan"), "{bash}");
    assert!(bash.contains("[provision]"), "{bash}");
    assert!(
        bash.contains("--new-master-keys") && bash.contains("--new-keys"),
        "{bash}"
    );

    // fish: sourced, then asked for completions of a command line.
    let fish = shell(
        "fish",
        &[
            "-c",
            &format!(
                "source '{}'; complete -C 'asan prov'; complete -C 'asan keys rotate --new'",
                path("asan.fish")
            ),
        ],
    );
    assert!(fish.starts_with("provision\t"), "{fish}");
    assert!(
        fish.contains("--new-master-keys\t") && fish.contains("--new-keys\t"),
        "{fish}"
    );

    // zsh: the script parses, and autoloads from fpath as a function.
    shell("zsh", &["-n", &path("_asan")]);
    let zsh = shell(
        "zsh",
        &[
            "-c",
            &format!(
                "fpath=('{}' $fpath); autoload -U _asan; whence -w _asan",
                dir.path().display()
            ),
        ],
    );
    assert_eq!(zsh.trim(), "_asan: function");
}
