#!/usr/bin/env bash
# Installs offon_jit into ./.venv on a bare Debian + Python 3.11 machine.
# System libraries: EGL/Mesa for headless MuJoCo rendering (dm_control vision tasks).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! ldconfig -p 2>/dev/null | grep -q libEGL.so.1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libegl1 libegl-mesa0 libgl1-mesa-dri >/dev/null
  else
    echo "warning: libEGL not found; install libegl1 libegl-mesa0 libgl1-mesa-dri for vision tasks" >&2
  fi
fi
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"
