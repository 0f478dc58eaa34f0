#!/usr/bin/env bash
# Make (or reuse) an environment for the verl integration tests, one per verl series.
#   bash scripts/verl_env.sh [0.7|0.9]     (default 0.7)
#     0.7 -> .venv-verl  ($ZPD_VERL_VENV):  tests/integration/verl   (AbstractCurriculumSampler)
#     0.9 -> .venv-verl9 ($ZPD_VERL9_VENV): tests/integration/verl9  (v1 trainer route)
# verl 0.7.x pins numpy<2 (and needs pyarrow<21 with it); verl 0.9.x needs numpy>=2 and
# transformers<5.11: both conflict with the main environment, so their tests run here.
# torch is installed first (CPU build on a machine without an NVIDIA GPU), so that verl does not
# pull a multi-GB CUDA wheel; zpd is installed editable without extras.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
series="${1:-0.7}"
case "$series" in
  0.7) venv="${ZPD_VERL_VENV:-$root/.venv-verl}" ;;
  0.9) venv="${ZPD_VERL9_VENV:-$root/.venv-verl9}" ;;
  *) echo "[zpd verl env] unknown verl series '$series': give 0.7 or 0.9" >&2; exit 2 ;;
esac
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
if [ "$series" = "0.7" ]; then
  echo "[zpd verl env] installing verl 0.7.1 (numpy<2, pyarrow<21), zpd and pytest into $venv"
  "${pip[@]}" "verl==0.7.1" "pyarrow<21" "numpy<2" "torch==2.13.0"
else
  # the v1 trainer's modules also need the verl-core extras (TransferQueue, fastapi, ...)
  echo "[zpd verl env] installing verl 0.9.1 (transformers<5.11), zpd and pytest into $venv"
  "${pip[@]}" "verl==0.9.1" "transformers>=5.5.3,<5.11,!=5.6.0" "torch==2.13.0" \
    "tensordict>=0.8,<=0.10,!=0.9.0" torchdata TransferQueue cachetools fastapi uvicorn \
    hydra-core pandas
fi
"${pip[@]}" -e "$root" "pytest>=8"
touch "$stamp"
