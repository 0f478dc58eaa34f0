#!/usr/bin/env bash
# The main job: install what it needs, then run the lab demo on its embedded defaults.
#   bash scripts/demo.sh [zpd demo options, e.g. --quick --out DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/setup.sh" "lab"
exec zpd demo "$@"
