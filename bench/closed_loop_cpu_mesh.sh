#!/usr/bin/env bash
# The closed loop on a CPU device mesh, for a host with at least one core per device (docs/calibration.md).
#   OUT=/some/dir [DEVICES=4] [REPEATS=31] bash bench/closed_loop_cpu_mesh.sh
# Writes to $OUT: cpu-<N>core-<D>dev.json (the profile), cpu-<N>core-<D>dev-kernels.json (kernels traced in
# each real step) and cpu-<N>core-<D>dev-validation.txt (the report), closed_loop_cpu_mesh.log.
# Why a script: on a host with fewer cores than devices, the devices time-share the cores and the profiler
# slows the shared steps by tens of percent, so the sharded plans cannot be checked there (the 2-core
# development machine). The lent accelerator machine has 16 cores: there, run this as a call of its own
# (its timeouts add up to 9 minutes; a call there may run 10) after bench/calibrate_device.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/pathsim-cpu-mesh}"
DEVICES="${DEVICES:-4}"
REPEATS="${REPEATS:-31}"
mkdir -p "$OUT"
LOG="$OUT/closed_loop_cpu_mesh.log"
PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export JAX_PLATFORMS=cpu  # the host's cores, even where an accelerator is present
log() { echo "[closed_loop_cpu_mesh $(date +%T)] $*" | tee -a "$LOG"; }

CORES="$(nproc)"
if [ "$CORES" -lt "$DEVICES" ]; then
  log "$CORES cores for $DEVICES devices: the devices would time-share the cores; run on a host with >= $DEVICES"
  exit 1
fi
. bench/device_deps.sh
ensure_pathsim_deps
NAME="cpu-${CORES}core-${DEVICES}dev"
log "$NAME: host load $(cut -d' ' -f1 /proc/loadavg), $REPEATS repeats"
timeout 180 "$PY" -m pathsim.calibration.cli calibrate --out "$OUT/$NAME.json" --preset cpu --devices "$DEVICES" \
  --no-progress 2>&1 | tee -a "$LOG"
[ -s "$OUT/$NAME.json" ] || { log "calibration failed"; exit 1; }
timeout 360 "$PY" -m pathsim.calibration.cli validate-calibration --profile "$OUT/$NAME.json" --preset cpu \
  --devices "$DEVICES" --repeats "$REPEATS" --kernels-out "$OUT/$NAME-kernels.json" \
  --report "$OUT/$NAME-validation.txt" --no-progress 2>&1 | tee -a "$LOG"
[ -s "$OUT/$NAME-validation.txt" ] || { log "validation failed"; exit 1; }
log "done"
