#!/usr/bin/env bash
# Coverage-guided fuzzing of tools/PcieVirt.FuzzTargets with AFL++ and SharpFuzz.
#   tools/fuzz-afl.sh TARGET [SECONDS]     TARGET = config | nvme | model (default 300 s)
# Installs what is missing (Debian's afl++, SharpFuzz.CommandLine 2.3.0), publishes the targets, instruments the
# PcieVirt assemblies, and runs afl-fuzz on tools/fuzz-corpus/TARGET. Findings go to artifacts/fuzz-afl/TARGET/;
# crashes are in artifacts/fuzz-afl/TARGET/default/crashes (replay one: dotnet OUT/PcieVirt.FuzzTargets.dll TARGET FILE).
set -euo pipefail
target=${1:?usage: tools/fuzz-afl.sh config|nvme|model [SECONDS]}
seconds=${2:-300}
case $target in config|nvme|model) ;; *) echo "unknown target $target" >&2; exit 2;; esac

root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/artifacts/fuzz-afl/bin
findings=$root/artifacts/fuzz-afl/$target
export PATH="$PATH:$HOME/.dotnet/tools"

if ! command -v afl-fuzz >/dev/null; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y afl++
fi
if ! command -v sharpfuzz >/dev/null; then
  dotnet tool install --global SharpFuzz.CommandLine --version 2.3.0
fi

# Publish and instrument once; a marker file says the instrumented copy is current.
stamp=$out/.instrumented
if [ ! -f "$stamp" ] || [ -n "$(find "$root/src" "$root/tools/PcieVirt.FuzzTargets" -name '*.cs' -newer "$stamp" -print -quit)" ]; then
  rm -rf "$out"
  dotnet publish "$root/tools/PcieVirt.FuzzTargets" -c Release -o "$out" --nologo -v quiet
  # Only our assemblies: coverage of the BCL and of SharpFuzz itself would drown the signal.
  for a in PcieVirt.Pci PcieVirt.Fabric PcieVirt.Devices PcieVirt.Platform; do
    sharpfuzz "$out/$a.dll"
  done
  touch "$stamp"
fi

mkdir -p "$findings"
# dotnet itself carries no AFL instrumentation (SharpFuzz reports the managed coverage), so the binary check is
# skipped; -t is generous because the first input pays for JIT and platform build.
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
resume=-i; in=$root/tools/fuzz-corpus/$target
[ -d "$findings/default/queue" ] && [ -n "${AFL_RESUME:-}" ] && in=-
afl-fuzz $resume "$in" -o "$findings" -t 10000 -m none -V "$seconds" -- dotnet "$out/PcieVirt.FuzzTargets.dll" "$target"

stats=$findings/default/fuzzer_stats
grep -E '^(run_time|execs_done|execs_per_sec|corpus_count|edges_found|total_edges|bitmap_cvg|saved_crashes|saved_hangs|stability)' "$stats"
