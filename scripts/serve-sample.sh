#!/usr/bin/env bash
# Set up a fresh machine and serve the sentiment sample (TensorFlow/Keras/gensim) on port 5001:
# installs scorehost and the sample's dependencies into .venv, trains the model from the
# tweet corpus (a few minutes, with progress; skipped when sample_models/sentiment/artifacts
# exists), then runs `scorehost serve`. Try it:
#   curl -s -X POST localhost:5001/score -H 'Content-Type: application/json' -d '{"text": "Today is a great day!"}'
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
bash scripts/setup-venv.sh
PYTHON="$ROOT/.venv/bin/python" bash sample_models/sentiment/setup.sh
exec "$ROOT/.venv/bin/scorehost" serve --entry_script sample_models/sentiment/score.py \
  --model_dir sample_models/sentiment/artifacts --port "${PORT:-5001}" "$@"
