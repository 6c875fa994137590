#!/usr/bin/env bash
# A bounded fuzzing run, as CI does it: every target for FUZZ_SECONDS
# (default 20) on its corpus in fuzz/corpus/, on the stable toolchain
# (RUSTC_BOOTSTRAP=1 lets cargo fuzz use the flags it needs). A crash
# fails the run and leaves the input in fuzz/artifacts/.
# The repository's corpus is only read: the inputs a run finds go to a
# temporary directory, so a run leaves the work tree clean. To grow the
# corpus, run `cargo fuzz run TARGET corpus/TARGET` in fuzz/ and commit
# what it adds (after `cargo fuzz cmin TARGET`).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
seconds=${FUZZ_SECONDS:-20}
targets=(apdu_parser applet_process host_responses certificate_reader image_loader verifier pdf_reader)
# The code is memory-safe Rust (unsafe is forbidden), so the address
# sanitizer adds little; without it the targets build and run faster.
cargo fuzz build -O -s none
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    echo "fuzz: $t for ${seconds}s"
    log=$(mktemp)
    found=$(mktemp -d)
    # libFuzzer writes new inputs to the first directory only.
    if ! cargo fuzz run -O -s none "$t" "$found" "corpus/$t" -- -max_total_time="$seconds" -rss_limit_mb=2048 >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "fuzz: $t failed; the input is in fuzz/artifacts/$t" >&2
        exit 1
    fi
    grep -E "^Done" "$log" || true
    rm -rf "$log" "$found"
done
echo "fuzz: ${#targets[@]} targets, no crash"
