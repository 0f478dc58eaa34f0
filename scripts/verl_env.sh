#!/usr/bin/env bash
# Make (or reuse) .venv-verl: a second environment for the verl integration tests.
#   bash scripts/verl_env.sh            (venv path: $ZPD_VERL_VENV, default .venv-verl)
# verl 0.7.x pins numpy<2 (and needs pyarrow<21 with it), which conflicts with the main
# environment, so its tests run here: .venv-verl/bin/python -m pytest -q tests/integration/verl
# torch is installed first (CPU build on a machine without an NVIDIA GPU), so that verl does not
# pull a multi-GB CUDA wheel; zpd is installed editable without extras.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${ZPD_VERL_VENV:-$root/.venv-verl}"
py="${PYTHON:-python3}"
stamp="$venv/.zpd-verl-installed"
if [ -f "$stamp" ] && [ "$stamp" -nt "$root/pyproject.toml" ] && [ "$stamp" -nt "$root/scripts/verl_env.sh" ]; then
  echo "[zpd verl env] $venv is up to date"
  exit 0
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "[zpd verl env] creating virtual environment $venv"
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
fi
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    "${pip[@]}" "torch==2.13.0"
  else
    echo "[zpd verl env] no GPU: installing the CPU build of torch first"
    "${pip[@]}" "torch==2.13.0+cpu" 2>/dev/null \
      || "${pip[@]}" "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu 2>/dev/null \
      || "${pip[@]}" "torch==2.13.0"
  fi
fi
echo "[zpd verl env] installing verl 0.7.1 (numpy<2, pyarrow<21), zpd and pytest into $venv"
"${pip[@]}" "verl==0.7.1" "pyarrow<21" "numpy<2" "torch==2.13.0"
"${pip[@]}" -e "$root" "pytest>=8"
touch "$stamp"
