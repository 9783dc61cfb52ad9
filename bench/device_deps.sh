# Sourced by the scripts run on a lent machine, which starts bare and cannot reach the network:
# installs from a wheel folder (./wheels, bench/wheels, /wheels or $WHEELS) when one exists.
# Needs $PY (the python) and $LOG (the log file) set, and a log() function.

wheel_dir() {
  for d in "${WHEELS:-}" wheels bench/wheels /wheels; do
    if [ -n "$d" ] && ls "$d"/*.whl >/dev/null 2>&1; then echo "$d"; return; fi
  done
}
pip_install() {  # pip_install PKG...: from the wheel folder if any, else the network; never fatal
  local dir; dir="$(wheel_dir)"
  if [ -n "$dir" ]; then
    timeout 240 "$PY" -m pip install -q --no-index --find-links "$dir" "$@" >>"$LOG" 2>&1 && return 0
  fi
  timeout 240 "$PY" -m pip install -q "$@" >>"$LOG" 2>&1
}

# pathsim's own dependencies, installed one by one: pip install -e . may need the network for its build backend.
ensure_pathsim_deps() {
  "$PY" -c "import simpy, networkx, numpy, yaml, pydantic, rich" 2>/dev/null \
    || pip_install simpy networkx numpy pyyaml pydantic rich || log "could not install pathsim's dependencies"
}
