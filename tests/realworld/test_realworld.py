"""Entry scripts written for scorehost in the patterns of public Azure ML samples (see README.md),
served by scorehost, answer as azmlinfsrv 1.5.1 does (golden.json, recorded by record_golden.py),
except where scorehost deliberately differs (docs/compat.md); those requests assert scorehost's
documented answer.

Each case starts a real server (``python -m scorehost serve --entry_script scripts/<case>/score.py
--model_dir <model built by make_model.py>``) with a fresh model folder as its working directory
(= AML_APP_ROOT, where ``Model.get_model_path`` finds ``azureml-models/``) and replays the
recorded requests over HTTP on 127.0.0.1. A case is skipped only when a third-party package its
script imports is not installed.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

import rw_cases

GOLDEN = rw_cases.load_golden()
START_TIMEOUT = 120.0  # importing sklearn/onnxruntime/pandas on a loaded 2-core machine
RUN_FAILED = {"message": "An unexpected error occurred in scoring script. Check the logs for more info."}


def _require(case: rw_cases.Case) -> None:
    for module in case.requires:
        pytest.importorskip(module, reason=f"{module} is not installed (needed by the {case.name} script)")


def _invalid_iris(answer: dict, golden: dict) -> None:
    """scorehost's documented answer when inference-schema cannot convert a client's value
    (docs/compat.md, schema_standard_python.count_as_string): 400 naming the parameter,
    instead of azmlinfsrv's 500 'An unexpected error occurred in scoring script'."""
    assert answer["status"] == 400, answer
    assert answer["x-ms-run-function-failed"] in (None, "False"), answer
    message = answer["body"]["json"]["message"]
    assert message.startswith("Invalid value for 'iris'"), answer
    assert "Traceback" not in message


def _form_body_scored(answer: dict, golden: dict) -> None:
    """docs/compat.md, string_input_echo.form_urlencoded_swallowed: an undecorated run() gets the
    body of an application/x-www-form-urlencoded POST (what `curl -d @file` sends) instead of ''
    -- so the real script scores it exactly as the same body sent as JSON."""
    assert answer == golden["predict_two_rows"], answer


# Requests where scorehost deliberately answers differently from the golden (azmlinfsrv) answer:
# (case, request id) -> (the anchor quirk in docs/compat.md, a check of scorehost's answer).
# The golden answer is asserted to still be the anchor's defect, so this table cannot hide a
# change in what azmlinfsrv was recorded to do.
DELIBERATE: dict[tuple[str, str], tuple[str, object]] = {
    ("sklearn_model1", "predict_curl_d_form_type"): ("form_urlencoded_swallowed", _form_body_scored),
    ("schema_numpy_iris", "strings_for_numbers"): ("count_as_string", _invalid_iris),
    ("schema_numpy_iris", "wrong_row_width"): ("count_as_string", _invalid_iris),
    ("schema_pandas_iris", "strings_for_numbers"): ("count_as_string", _invalid_iris),
    ("schema_pandas_iris", "missing_column"): ("count_as_string", _invalid_iris),
}


def _collected_records(server, collected: Path, answers: dict, golden: dict) -> None:
    """datacollector_aks: scorehost's fallback ``azureml.monitoring.ModelDataCollector`` wrote one
    JSON Lines record per collect() call under SCOREHOST_DATA_COLLECTION_DIR -- inputs then
    predictions for each scored request, nothing for the requests run() could not score -- each
    tagged with the id of the request it belongs to."""
    files = sorted((collected / "model-data-collector").glob("*.jsonl"))
    assert files, f"no JSONL written under {collected}:\n{server.log()[-3000:]}"
    records = [json.loads(line) for f in files for line in f.read_text().splitlines() if line.strip()]
    scored = ("predict_two_rows", "predict_one_row")
    assert [(r["designation"], r["request_id"]) for r in records] == [
        (ident, answers[rid][0].header("x-ms-request-id")) for rid in scored for ident in ("inputs", "predictions")
    ], records
    by_request = {rid: records[2 * i: 2 * i + 2] for i, rid in enumerate(scored)}
    for rid, (inputs, predictions) in by_request.items():
        assert inputs["model_name"] == predictions["model_name"] == "sklearn_regression_model", inputs
        assert inputs["feature_names"] == ["feat1", "feat2"], inputs
        assert predictions["feature_names"] == ["prediction1", "prediction2"], predictions
        assert inputs["request_id"], inputs
        body, _ = rw_cases.BY_NAME["datacollector_aks"].requests[scored.index(rid)].build()
        assert inputs["data"] == json.loads(body)["data"], inputs
        # what was collected is what the client got back (and what azmlinfsrv answered)
        assert rw_cases._norm_value(predictions["data"]) == golden[rid]["body"]["json"], predictions
        assert answers[rid][1] == golden[rid]


# Checks run after a case's requests: (server, collection dir, {request id: (response, normalised)},
# the case's golden responses).
AFTER = {"datacollector_aks": _collected_records}


def _load_make_model(case: rw_cases.Case):
    spec = importlib.util.spec_from_file_location(f"make_model_{case.name}", rw_cases.SCRIPTS / case.name / "make_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _start(serve, tmp_path, case: rw_cases.Case, ready: bool, env: dict | None = None):
    root = tmp_path / "app"
    root.mkdir()
    model_dir = case.build_model(root)
    args = ["--model_dir", str(model_dir)] if model_dir is not None else []
    return serve(case.script, *args, cwd=root, ready=ready, ready_timeout=START_TIMEOUT, env=env)


SERVING = [c for c in rw_cases.CASES if c.expect == "ready"]


@pytest.mark.slow
@pytest.mark.parametrize("case", SERVING, ids=[c.name for c in SERVING])
def test_real_script_answers_like_azmlinfsrv(serve, tmp_path, case):
    _require(case)
    golden = GOLDEN["cases"][case.name]
    assert golden["startup"] == "ready", golden
    collected = tmp_path / "collected"
    server = _start(serve, tmp_path, case, ready=True, env={"SCOREHOST_DATA_COLLECTION_DIR": str(collected)})
    mismatches = []
    answers = {}
    for req in case.requests:
        body, headers = req.build()
        resp = server.request(req.method, req.path, body, headers, timeout=60)
        got = rw_cases.normalise(resp.status, resp.headers, resp.body, req.id)
        answers[req.id] = (resp, got)
        want = golden["responses"][req.id]
        deliberate = DELIBERATE.get((case.name, req.id))
        if deliberate is not None:
            quirk, check = deliberate
            # the anchor's recorded answer is the defect the quirk names ...
            assert want == {"status": 500, "content-type": "application/json", "x-ms-run-function-failed": "True",
                            "body": {"json": RUN_FAILED}}, (req.id, want)
            # ... and scorehost gives its documented answer instead
            check(got, golden["responses"])
            continue
        if got != want:
            mismatches.append(f"{case.name}.{req.id}:\n  azmlinfsrv: {json.dumps(want)[:800]}\n"
                              f"  scorehost:  {json.dumps(got)[:800]}")
    assert not mismatches, "\n".join(mismatches) + "\n--- server log tail ---\n" + server.log()[-3000:]
    # every run() failure leaves its traceback in the log, none in a response
    log = server.log()
    if any(a["status"] == 500 and (case.name, rid) not in DELIBERATE for rid, a in golden["responses"].items()):
        assert "Traceback" in log
    if case.name in AFTER:
        AFTER[case.name](server, collected, answers, golden["responses"])


@pytest.mark.slow
def test_onnx_prediction_is_not_a_near_tie():
    """The ONNX case compares an argmax; make sure the model's top two scores are well apart,
    so the golden answer cannot flip on float rounding between onnxruntime builds."""
    pytest.importorskip("numpy")
    case = rw_cases.BY_NAME["onnx_mnist_get_model_path"]
    module = _load_make_model(case)
    import numpy as np
    w, b = module.weights()
    scores = np.array(module.sample_image(), dtype=np.float32).reshape(1, 784) @ w + b
    top2 = np.sort(scores[0])[-2:]
    assert top2[1] - top2[0] > 0.05, scores
    assert int(np.argmax(scores)) == GOLDEN["cases"][case.name]["responses"]["predict"]["body"]["json"]["result"]


def test_golden_covers_every_case_and_request():
    """golden.json and rw_cases.py agree (re-record with record_golden.py after editing cases)."""
    assert set(GOLDEN["cases"]) == {c.name for c in rw_cases.CASES}
    for case in rw_cases.CASES:
        entry = GOLDEN["cases"][case.name]
        assert entry["startup"] == case.expect, case.name
        if case.expect == "ready":
            assert set(entry["responses"]) == {r.id for r in case.requests}, case.name
    for (case_name, req_id), (quirk, _check) in DELIBERATE.items():
        assert req_id in GOLDEN["cases"][case_name]["responses"]
        assert quirk in (rw_cases.HERE.parent.parent / "docs" / "compat.md").read_text(), quirk
