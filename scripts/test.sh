#!/usr/bin/env bash
# The whole test suite: install what it needs, lint (ruff), type-check the core (mypy), run pytest.
#   bash scripts/test.sh [extra pytest arguments]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source "$root/scripts/setup.sh" "test,lab,sinks,trl,ray,data"
echo "[zpd test] ruff"
ruff check src tests benchmarks examples
echo "[zpd test] mypy (core)"
mypy
echo "[zpd test] pytest"
python -m pytest -q "$@"
echo "[zpd test] verl 0.7 integration (own environment: verl 0.7 pins numpy<2)"
bash "$root/scripts/verl_env.sh" 0.7
"${ZPD_VERL_VENV:-$root/.venv-verl}/bin/python" -m pytest -q tests/integration/verl
echo "[zpd test] verl 0.9 integration (own environment: verl 0.9 needs transformers<5.11)"
bash "$root/scripts/verl_env.sh" 0.9
"${ZPD_VERL9_VENV:-$root/.venv-verl9}/bin/python" -m pytest -q tests/integration/verl9
