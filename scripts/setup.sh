#!/usr/bin/env bash
# Make (or reuse) a virtual environment with zpd and the extras named in $1.
#   usage: source scripts/setup.sh "lab,test"      (venv path: $ZPD_VENV, default .venv)
# On a machine without an NVIDIA GPU the CPU build of torch is installed first, so that
# no multi-GB CUDA wheel is pulled in; with a GPU, pip's normal (CUDA) torch is used.
set -euo pipefail
extras="${1:-lab}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${ZPD_VENV:-$root/.venv}"
py="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  echo "[zpd setup] creating virtual environment $venv"
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
fi
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)

stamp="$venv/.zpd-installed-$(echo "$extras" | tr ',' '-')"
if [ -f "$stamp" ] && [ "$stamp" -nt "$root/pyproject.toml" ] && [ "$stamp" -nt "$root/scripts/setup.sh" ]; then
  echo "[zpd setup] $venv is up to date for extras [$extras]"
else
  if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
      echo "[zpd setup] NVIDIA GPU found: torch comes from pip's default (CUDA) build"
    else
      echo "[zpd setup] no GPU: installing the CPU build of torch first"
      "${pip[@]}" "torch==2.13.0+cpu" 2>/dev/null \
        || "${pip[@]}" "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu 2>/dev/null \
        || "${pip[@]}" "torch==2.13.0"
    fi
  fi
  echo "[zpd setup] installing zpd[$extras] into $venv"
  "${pip[@]}" -e "$root[$extras]"
  rm -f "$venv"/.zpd-installed-*
  touch "$stamp"
fi
export PATH="$venv/bin:$PATH"
export VIRTUAL_ENV="$venv"
