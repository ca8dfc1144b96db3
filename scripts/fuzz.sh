#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ (cargo fuzz, libFuzzer with AddressSanitizer) for a bounded time:
#
#   scripts/fuzz.sh [TARGET…]      (make fuzz; FUZZ_SECONDS per target, default 60)
#
# Installs cargo-fuzz into ~/.cache/chatplane/tools on first use. Stable rustc runs the
# sanitizer build through RUSTC_BOOTSTRAP (the sanitizer runtimes ship with it), so no nightly
# toolchain is needed. The growing corpus lives in ~/.cache/chatplane/fuzz (the committed seeds in
# fuzz/corpus are read, never written); a crash is saved there and its path printed: copy it to
# fuzz/regressions/<target>/ so the tests replay it (api/src/fuzzing.rs) once it is fixed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${CHATPLANE_CACHE:-$HOME/.cache/chatplane}"
version=0.13.1
tools="$cache/tools/cargo-fuzz-$version"
work="$cache/fuzz"
seconds="${FUZZ_SECONDS:-60}"

if [[ ! -x $tools/bin/cargo-fuzz ]]; then
  echo "fuzz: installing cargo-fuzz $version into $tools" >&2
  cargo install --locked --quiet --version "$version" --root "$tools" cargo-fuzz
fi
export PATH="$tools/bin:$PATH" RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$cache/target-fuzz-asan}"

if (($# > 0)); then
  targets=("$@")
else
  mapfile -t targets < <(cd "$root/fuzz" && cargo fuzz list)
fi

failed=()
for target in "${targets[@]}"; do
  mkdir -p "$work/corpus/$target" "$work/artifacts/$target"
  echo "fuzz: $target for ${seconds}s" >&2
  # -max_total_time bounds the run; new inputs go to the first corpus directory only.
  if ! (cd "$root/fuzz" && cargo fuzz run "$target" "$work/corpus/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -artifact_prefix="$work/artifacts/$target/" -print_final_stats=1); then
    failed+=("$target")
  fi
done

if ((${#failed[@]} > 0)); then
  echo "fuzz: crashes in ${failed[*]}; inputs are in $work/artifacts/<target>/" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${seconds}s each without a crash" >&2
