#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv and install scorehost into it
# (editable) with the extras named on the command line, e.g.:
#   scripts/setup-venv.sh            -> scorehost only
#   scripts/setup-venv.sh test       -> + everything the test suite uses
# Idempotent; uses $PYTHON (default python3, >= 3.10).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
VENV=${VENV:-$ROOT/.venv}
if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
extras=""
for e in "$@"; do extras="${extras:+$extras,}$e"; done
spec="$ROOT${extras:+[$extras]}"
echo "==> pip install -e $spec"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$spec"
echo "==> ready: $VENV"
