#!/usr/bin/env bash
# Runs the C example and fixtures with the Weir runtime and checks what the
# runtime reports: the word counts of the tokenizer, the byte-exact output of
# the conformance job, and every misbehave mode's failure. Ends with timings.
#
#   WEIR=path/to/weir BUILD=dir-with-components tests/e2e.sh
#
# `make -C operators-sdk/c e2e WEIR=...` builds the components first.
set -euo pipefail

sdk=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
repo=$(cd "$sdk/../.." && pwd)
weir=${WEIR:-weir}
build=${BUILD:-$sdk/build}
command -v "$weir" >/dev/null 2>&1 || {
    echo "e2e: the Weir runtime ($weir) was not found; pass WEIR=path/to/weir" >&2
    exit 1
}
for c in tokenize conform misbehave; do
    [ -s "$build/$c.wasm" ] || {
        echo "e2e: $build/$c.wasm is missing; run make -C operators-sdk/c components" >&2
        exit 1
    }
done

work="$build/e2e"
rm -rf "$work"
mkdir -p "$work"
failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# The job's summary (JSON, last line of stderr) -> one field.
summary_field() {
    tail -n 1 "$1" | sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p"
}

# --- tokenize -----------------------------------------------------------------
sed -e "s|module: tokenize.wasm|module: $build/tokenize.wasm|" \
    -e "s|path: input.txt|path: $repo/examples/c/tokenize/input.txt|" \
    "$repo/examples/c/tokenize/job.yaml" >"$work/tokenize.yaml"
cache="$work/cache"
for run in first second; do
    start=$(date +%s%N)
    if "$weir" run --allowed-path "$repo" --cache-dir "$cache" "$work/tokenize.yaml" >"$work/tokenize.out" 2>"$work/tokenize.err"; then
        end=$(date +%s%N)
        echo "tokenize: $run run $(((end - start) / 1000000)) ms (wall, weir run)"
    else
        fail "tokenize job failed: $(tail -n 3 "$work/tokenize.err")"
    fi
done
cmp -s "$work/tokenize.out" "$repo/examples/wordcount/expected.txt" ||
    fail "tokenize output differs from examples/wordcount/expected.txt"

# --- conformance --------------------------------------------------------------
conform_job() { # $1: extra config line, or nothing
    sed -e "s|module: MODULE|module: $build/conform.wasm|" \
        -e "s|path: input.jsonl|path: $repo/tests/conformance/input.jsonl|" \
        "$repo/tests/conformance/job.yaml" >"$work/conform.yaml"
    if [ -n "${1:-}" ]; then
        sed -i "s|      prefix: \"t:\"|      prefix: \"t:\"\n      $1|" "$work/conform.yaml"
    fi
}
conform_job
if "$weir" run --allowed-path "$repo" "$work/conform.yaml" >"$work/conform.out" 2>"$work/conform.err"; then
    cmp -s "$work/conform.out" "$repo/tests/conformance/expected.jsonl" ||
        fail "conform output differs from tests/conformance/expected.jsonl"
else
    fail "conform job failed: $(tail -n 3 "$work/conform.err")"
fi

# A job whose run must fail with a message containing $2.
expect_failure() { # $1: name, $2: expected text, $3: job file
    if "$weir" run --allowed-path "$repo" "$3" >"$work/$1.out" 2>"$work/$1.err"; then
        fail "$1: the job succeeded"
    elif ! grep -qF -- "$2" "$work/$1.err"; then
        fail "$1: expected '$2' in: $(grep -i error "$work/$1.err" | tail -n 2)"
    else
        echo "$1: $(grep -F -- "$2" "$work/$1.err" | tail -n 1 | sed 's/^error: //')"
    fi
}

conform_job "failOnId: 3"
expect_failure conform-fail-on-id "invalid-input error: conform: rejected record with id 3" "$work/conform.yaml"
conform_job "colour: red"
expect_failure conform-unknown-field "unknown field \`colour\`" "$work/conform.yaml"
conform_job "minScore: high"
expect_failure conform-wrong-type "field \`minScore\`: expected a number, found a string" "$work/conform.yaml"

# --- misbehave ----------------------------------------------------------------
misbehave_job() { # $1: mode
    cat >"$work/misbehave-$1.yaml" <<YAML
name: misbehave-$1
source:
  type: text
  path: $repo/examples/wordcount/input.txt
operators:
  - name: probe
    module: $build/misbehave.wasm
    config: {mode: $1}
    resources:
      memory: 64Mi
      callTimeout: 1s
sink:
  type: stdout
YAML
}

misbehave_job passthrough
if "$weir" run --allowed-path "$repo" "$work/misbehave-passthrough.yaml" >"$work/passthrough.out" 2>"$work/passthrough.err"; then
    [ "$(wc -l <"$work/passthrough.out")" = "$(wc -l <"$repo/examples/wordcount/input.txt")" ] ||
        fail "passthrough: not every record came through"
    grep -q "misbehave: first batch" "$work/passthrough.err" || fail "passthrough: stdout line missing"
    grep -q "rows_seen = 40" "$work/passthrough.err" || fail "passthrough: counter rows_seen missing"
else
    fail "passthrough job failed: $(tail -n 3 "$work/passthrough.err")"
fi

for case in \
    "loop|exceeded its deadline of 1000 ms in process" \
    "memory-bomb|exceeded its memory limit of 67108864 bytes in process" \
    "recurse|trapped in process" \
    "trap|guest stderr: misbehave: deliberate trap" \
    "error|invalid-input error: misbehave: deliberate error on batch 0" \
    "open-error|invalid-config error: misbehave: deliberate open failure" \
    "state|host error: value state \`counts\`: unavailable" \
    "bogus|misbehave: unknown mode \`bogus\`; valid modes:"; do
    mode=${case%%|*}
    misbehave_job "$mode"
    expect_failure "misbehave-$mode" "${case#*|}" "$work/misbehave-$mode.yaml"
done

# --- throughput ---------------------------------------------------------------
# Pass-through without the per-batch log line: mode error, never reached.
cat >"$work/throughput.yaml" <<YAML
name: passthrough-throughput
source:
  type: generator
  count: 1000000
operators:
  - name: passthrough
    module: $build/misbehave.wasm
    config: {mode: error, afterBatches: 1000000000}
sink:
  type: blackhole
YAML
if "$weir" run --summary-json "$work/throughput.yaml" >/dev/null 2>"$work/throughput.err"; then
    ms=$(summary_field "$work/throughput.err" durationMs)
    echo "passthrough: 1000000 records in $(awk "BEGIN { printf \"%.0f ms (%.1f M records/s)\", $ms, 1000 / $ms }")"
else
    fail "throughput job failed: $(tail -n 3 "$work/throughput.err")"
fi
for c in tokenize conform misbehave; do
    echo "component $c.wasm: $(wc -c <"$build/$c.wasm") bytes"
done

if [ "$failures" -gt 0 ]; then
    echo "e2e: $failures check(s) failed" >&2
    exit 1
fi
echo "e2e: all checks passed"
