#!/usr/bin/env bash
# Calibrate pathsim on a lent GPU and run the closed loop there (docs/calibration.md).
#   OUT=/some/dir bash bench/calibrate_device.sh
# Writes to $OUT: gpu-<kind>.json (the profile), gpu-<kind>-validation.txt (the report), calibrate_device.log;
# then gpu-<kind>-kernels.json and gpu-<kind>-imported-validation.txt (XLA's program, kernels traced in the step).
# Installs jax[cuda12] when the GPU backend is missing: from a wheel folder (./wheels, bench/wheels,
# /wheels or $WHEELS) when one exists, else from the network. Budget: about 8 minutes, 12 with the imported program.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/pathsim-device}"
mkdir -p "$OUT"
LOG="$OUT/calibrate_device.log"
PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
log() { echo "[calibrate_device $(date +%T)] $*" | tee -a "$LOG"; }
. bench/device_deps.sh

if ! nvidia-smi >>"$LOG" 2>&1; then
  log "no NVIDIA GPU here (nvidia-smi failed): nothing to calibrate (a CPU mesh: bench/closed_loop_cpu_mesh.sh)"
  exit 1
fi
if ! "$PY" -c "import jax, sys; sys.exit(jax.default_backend() != 'gpu')" >>"$LOG" 2>&1; then
  log "jax with a GPU backend is missing: installing jax[cuda12]"
  pip_install "jax[cuda12]" || log "could not install jax[cuda12]"
fi
ensure_pathsim_deps

BACKEND="$("$PY" -c "import jax; print(jax.default_backend())" 2>>"$LOG")"
KIND="$("$PY" -c "import jax, re; print(re.sub('[^A-Za-z0-9]+', '-', jax.devices()[0].device_kind).strip('-').lower())" 2>>"$LOG")"
log "backend ${BACKEND:-none}, device ${KIND:-none}"
if [ "$BACKEND" != "gpu" ]; then
  log "jax has no GPU backend (install failed?): see $LOG"
  exit 1
fi

PROFILE="$OUT/gpu-$KIND.json"
REPORT="$OUT/gpu-$KIND-validation.txt"
log "calibrate -> $PROFILE"
timeout 300 "$PY" -m pathsim.calibration.cli calibrate --out "$PROFILE" --preset gpu --warmup 3 --repeats 10 \
  --no-progress 2>&1 | tee -a "$LOG"
[ -s "$PROFILE" ] || { log "calibration failed"; exit 1; }
log "validate-calibration -> $REPORT"
timeout 240 "$PY" -m pathsim.calibration.cli validate-calibration --profile "$PROFILE" --preset gpu \
  --warmup 3 --repeats 10 --report "$REPORT" --no-progress 2>&1 | tee -a "$LOG"
[ -s "$REPORT" ] || { log "validation failed"; exit 1; }
# The imported program (XLA's compiled step, kernels traced in it): not yet run on a GPU, so not fatal.
KERNELS="$OUT/gpu-$KIND-kernels.json"
log "validate-calibration --kernels-out $KERNELS -> $OUT/gpu-$KIND-imported-validation.txt"
timeout 300 "$PY" -m pathsim.calibration.cli validate-calibration --profile "$PROFILE" --preset gpu \
  --warmup 3 --repeats 10 --kernels-out "$KERNELS" --report "$OUT/gpu-$KIND-imported-validation.txt" \
  --no-progress 2>&1 | tee -a "$LOG" || log "the imported-program closed loop failed (see $LOG)"
log "done"
