#!/usr/bin/env bash
# Runs every fuzz target declared in fuzz/Cargo.toml for a bounded time on the stable toolchain
# (cargo-fuzz with `-s none`: no sanitizer, which needs nightly).
#
#   FUZZ_SECONDS=30 .ci/fuzz.sh            # all targets, 30 s each (default)
#   FUZZ_SECONDS=60 .ci/fuzz.sh webhook_token install_request   # only these
#   FUZZ_JOBS=1 .ci/fuzz.sh                # one target at a time (default: one per core)
#   FUZZ_BUILD=dev .ci/fuzz.sh             # unoptimised build (default: release)
#
# CI's short run uses FUZZ_BUILD=dev: the release build of the targets (the server library with
# its TLS and PostgreSQL dependencies, instrumented) took about 5 of CI's 25 minutes, more than the
# fuzzing itself; an unoptimised build takes a fraction of that, runs fewer inputs per second
# (which matters little in a 10 s smoke run) and keeps overflow checks on. Longer runs should use
# the default release build.
#
# A crash (panic, failed invariant, timeout or OOM) fails the script; libFuzzer writes the
# crashing input under fuzz/artifacts/<target>/ (kept: CI should upload that directory), and
# the script prints how to reproduce it. Corpora grow in a scratch copy, so the committed
# seed corpora in fuzz/corpus/ stay small and reviewed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-30}"
case "${FUZZ_BUILD:-release}" in
  release) build=(--release) ;;
  dev) build=(--dev) ;;
  *) echo "FUZZ_BUILD must be release or dev, not ${FUZZ_BUILD}" >&2; exit 1 ;;
esac
export CARGO_TERM_COLOR=never

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
cargo fuzz --version

# Targets: the [[bin]] names of fuzz/Cargo.toml, unless given on the command line.
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(awk '
    /^\[\[bin\]\]/ { inbin = 1; next }
    /^\[/ { inbin = 0 }
    inbin && /^name *=/ { gsub(/.*= *"|".*/, ""); print }
  ' fuzz/Cargo.toml)
fi
if [ "${#targets[@]}" -eq 0 ]; then
  echo "no fuzz targets found in fuzz/Cargo.toml" >&2
  exit 1
fi
for t in "${targets[@]}"; do
  if [ ! -f "fuzz/fuzz_targets/$t.rs" ]; then
    echo "fuzz target $t is declared in fuzz/Cargo.toml but fuzz/fuzz_targets/$t.rs is missing" >&2
    exit 1
  fi
done

echo "=== cargo fuzz build -s none ${build[*]} (${targets[*]})"
if [ "$#" -eq 0 ]; then
  cargo fuzz build -s none "${build[@]}"   # every target in one cargo invocation
else
  for t in "${targets[@]}"; do
    cargo fuzz build -s none "${build[@]}" "$t"
  done
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# libFuzzer runs on one core, so targets run side by side, one per core (FUZZ_JOBS to change);
# each one's output goes to its own log, printed when it ends.
jobs="${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}"
fuzz_one() {
  local t="$1" seeds=() status=0
  mkdir -p "$scratch/$t" "fuzz/artifacts/$t"
  if [ -d "fuzz/corpus/$t" ]; then
    seeds=("fuzz/corpus/$t")
  fi
  # First corpus dir is where new inputs go (the scratch copy); the seeds are read only.
  cargo fuzz run -s none "${build[@]}" "$t" "$scratch/$t" "${seeds[@]}" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$scratch/$t.log" 2>&1 || status=$?
  echo "$status" >"$scratch/$t.status"
}
echo "=== fuzz ${#targets[@]} targets for ${seconds}s each, $jobs at a time"
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
    wait -n || true
  done
  fuzz_one "$t" &
done
wait

failed=()
for t in "${targets[@]}"; do
  status="$(cat "$scratch/$t.status" 2>/dev/null || echo "no status")"
  echo "=== fuzz $t for ${seconds}s: exit $status"
  if [ "$status" = 0 ]; then
    grep -E '^(stat::|Done )' "$scratch/$t.log" || tail -n 5 "$scratch/$t.log"
  else
    failed+=("$t")
    tail -n 60 "$scratch/$t.log" || true
    echo "!!! $t crashed; inputs kept in fuzz/artifacts/$t/:" >&2
    ls -l "fuzz/artifacts/$t/" >&2 || true
    for a in fuzz/artifacts/"$t"/*; do
      [ -f "$a" ] && echo "    reproduce: cargo fuzz run -s none ${build[*]} $t $a" >&2
    done
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzzing found crashes in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzzing: ${#targets[@]} targets ran ${seconds}s each without a crash"
