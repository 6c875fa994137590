#!/usr/bin/env bash
# Mutation testing with cargo-mutants of the code whose tests must be
# strong: the applet's PIN, security, store and operator code and the
# virtual card's image store (docs/security.md, "Mutation testing").
#
#   scripts/mutants.sh              the card-side files changed since
#                                   $MUTANTS_BASE (default HEAD~1), only
#                                   the mutants in the changed lines: what
#                                   CI runs for a commit
#   scripts/mutants.sh --all        every critical file, whole
#   scripts/mutants.sh FILE...      these files, whole
#
# Each file is tested with the test targets that exercise it (the table
# below), one package per cargo-mutants run, one job at a time
# ($MUTANTS_JOBS, default 1). The whole run stops after $MUTANTS_BUDGET
# seconds (default 300): a run cut short by the budget names what it did not
# examine and does not fail; a mutant that survives fails it (exit 2); one
# that makes the tests hang counts as caught. Survivors known to be
# equivalent are excluded in .cargo/mutants.toml, each explained in
# docs/security.md. Reports go to $MUTANTS_OUT (default target/mutants).
set -euo pipefail
cd "$(dirname "$0")/.."

budget=${MUTANTS_BUDGET:-300}
jobs=${MUTANTS_JOBS:-1}
out=${MUTANTS_OUT:-target/mutants}
base=${MUTANTS_BASE:-HEAD~1}

# file → the test targets that exercise it (in its package).
declare -A tests=(
    [applet/src/pin.rs]="--lib --test pins --test tearing --test transcripts --test model"
    [applet/src/command/pin.rs]="--lib --test pins --test tearing --test transcripts --test model"
    [applet/src/command/security.rs]="--lib --test signing --test tearing --test transcripts --test model"
    [applet/src/store/mem.rs]="--lib --test tearing --test pins --test transcripts"
    [applet/src/store/mod.rs]="--lib --test tearing --test pins --test transcripts"
    [applet/src/state.rs]="--lib --test pins --test operator --test tearing --test transcripts"
    [applet/src/command/operator.rs]="--lib --test operator --test tearing --test transcripts --test model"
    [applet/src/command/channel.rs]="--lib --test operator --test scp03_vectors --test tearing --test transcripts"
    [vcard/src/image.rs]="--test image --test image_faults"
    [vcard/src/image/fs.rs]="--test image --test image_faults"
    [vcard/src/vpcd.rs]="--test vpcd"
)
critical=(applet/src/pin.rs applet/src/command/pin.rs applet/src/command/security.rs
    applet/src/store/mem.rs applet/src/store/mod.rs applet/src/state.rs
    applet/src/command/operator.rs applet/src/command/channel.rs vcard/src/image.rs)

package_of() {
    case "$1" in
        applet/*) echo asan-applet ;;
        vcard/*) echo asan-vcard ;;
        *) return 1 ;;
    esac
}

in_diff=""
files=()
case "${1:-}" in
    --all) files=("${critical[@]}") ;;
    "")
        # Card-side sources changed since the base (committed or not).
        if ! git rev-parse --verify --quiet "$base^{commit}" >/dev/null; then
            echo "mutants: no base revision $base; nothing to compare" >&2
            exit 0
        fi
        mapfile -t files < <(git diff --name-only "$base" -- 'applet/src/*.rs' 'vcard/src/*.rs')
        ;;
    -*) echo "usage: scripts/mutants.sh [--all | FILE...]" >&2; exit 1 ;;
    *) files=("$@") ;;
esac
if [ "${#files[@]}" -eq 0 ]; then
    echo "mutants: no card-side source changed since $base"
    exit 0
fi
# Installed only when there is something to examine (a commit that changes
# no card-side line costs CI nothing).
command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked
if [ -z "${1:-}" ]; then
    in_diff=$(mktemp)
    trap 'rm -f "$in_diff"' EXIT
    git diff "$base" -- "${files[@]}" >"$in_diff"
fi

start=$SECONDS
status=0
skipped=()
for package in asan-applet asan-vcard; do
    selected=()
    targets=()
    declare -A seen=()
    for f in "${files[@]}"; do
        [ -f "$f" ] || continue
        [ "$(package_of "$f" || true)" = "$package" ] || continue
        selected+=(-f "$f")
        # Files outside the table: every test target of their package.
        read -ra words <<<"${tests[$f]:---lib --tests}"
        i=0
        while [ "$i" -lt "${#words[@]}" ]; do
            target=${words[$i]}
            i=$((i + 1))
            if [ "$target" = --test ]; then
                target="--test ${words[$i]}"
                i=$((i + 1))
            fi
            if [ -z "${seen[$target]:-}" ]; then
                seen[$target]=1
                read -ra parts <<<"$target"
                targets+=("${parts[@]}")
            fi
        done
    done
    unset seen
    [ "${#selected[@]}" -gt 0 ] || continue
    left=$((budget - (SECONDS - start)))
    if [ "$left" -le 30 ]; then
        skipped+=("${selected[@]}")
        continue
    fi
    diff_args=()
    if [ -n "$in_diff" ]; then diff_args=(--in-diff "$in_diff"); fi
    mkdir -p "$out/$package"
    echo "mutants: $package: ${selected[*]} (tests: ${targets[*]}), ${left}s left"
    set +e
    timeout -s INT -k 30 "$left" nice cargo mutants -p "$package" "${selected[@]}" "${diff_args[@]}" \
        -j "$jobs" -o "$out/$package" --no-shuffle --colors never -- "${targets[@]}"
    code=$?
    set -e
    case "$code" in
        # 3: some mutants made the tests hang (stopped by cargo-mutants'
        # own timeout): the tests did not pass on them, so they count as
        # caught; the list is in timeout.txt.
        0 | 3) ;;
        124 | 130 | 137) echo "mutants: $package: the budget of ${budget}s ran out" ;;
        *) echo "mutants: $package: cargo mutants exit $code (2: a mutant survived);" \
            "see $out/$package/mutants.out" >&2
           status=$code ;;
    esac
done
if [ "${#skipped[@]}" -gt 0 ]; then
    echo "mutants: not examined within the ${budget}s budget: ${skipped[*]}"
fi
exit "$status"
