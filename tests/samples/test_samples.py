"""The sklearn_schema, rawhttp_image and multi_model samples, and `scorehost smoke`.

Each sample is smoke-tested the way a user's CI would (`python -m scorehost smoke
sample_models/<name>`), then served with the `serve` fixture to check its contract over HTTP.
Models are built once per session by each sample's make_model.py into a temporary folder
(given to smoke with --model_dir), so the tests neither need nor touch sample_models/*/artifacts.
The negative smoke cases use small throwaway samples written into tmp_path.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

for _module in ("sklearn", "joblib", "pandas", "numpy", "PIL"):
    pytest.importorskip(_module, reason=f"{_module} is needed by the samples (pip install scikit-learn pandas pillow)")

import joblib
import numpy as np
from serverlib import start_server  # tests/serverlib.py
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_models"
SMOKE_TIMEOUT = 300  # seconds for a whole smoke run (a readiness wait is about 2-5 s here)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IRIS_ROWS = [
    {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},  # setosa
    {"sepal_length": 6.0, "sepal_width": 2.9, "petal_length": 4.5, "petal_width": 1.5},  # versicolor
    {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3},  # virginica
]


def clean_env(tmp_path: Path) -> dict:
    """The test's environment without settings a developer may have exported (as conftest does);
    TMPDIR keeps smoke's kept-on-failure logs inside tmp_path."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AZUREML_", "AML_", "SCORING_", "SCOREHOST_", "WORKER_", "SERVICE_"))}
    env.update(PYTHONUNBUFFERED="1", TMPDIR=str(tmp_path))
    return env


def smoke(tmp_path: Path, *args: str, timeout: float = SMOKE_TIMEOUT, env: dict | None = None
          ) -> subprocess.CompletedProcess:
    """Run `python -m scorehost smoke ARGS`; returns the finished process (stdout+stderr in .stdout)."""
    return subprocess.run([sys.executable, "-m", "scorehost", "smoke", *args], check=False, cwd=str(tmp_path),
                          env={**clean_env(tmp_path), **(env or {})}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """{sample name: model directory} built by each sample's make_model.py."""
    built = {}
    for name in ("sklearn_schema", "rawhttp_image", "multi_model"):
        output = tmp_path_factory.mktemp(name) / "artifacts"
        result = subprocess.run([sys.executable, str(SAMPLES / name / "make_model.py"), "--output", str(output)],
                                check=False, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{name}/make_model.py failed:\n{result.stdout}\n{result.stderr}"
        built[name] = output
    return built


@pytest.fixture(scope="module")
def sample_server(models, tmp_path_factory):
    """``sample_server(name)`` -> a Server for sample_models/<name> with its model, one per module."""
    started = {}

    def _get(name):
        if name not in started:
            server = start_server(tmp_path_factory.mktemp(f"{name}-server"), "--entry_script",
                                  str(SAMPLES / name / "score.py"), "--model_dir", str(models[name]))
            started[name] = server
            server.wait_ready(120)
        return started[name]

    yield _get
    for server in started.values():
        server.stop()


def write_sample(folder: Path, score_py: str, requests: list | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "score.py").write_text(textwrap.dedent(score_py))
    if requests is not None:
        (folder / "sample-requests.json").write_text(json.dumps(requests))
    return folder


# ------------------------------------------------------------------ smoke over each sample

EXPECTED_OUTPUT = {
    "sklearn_schema": [
        'smoke: OK: 4 of 4 requests succeeded',
        '{"predictions": ["setosa", "versicolor", "virginica"]',
        '"predictions": ["virginica"]',
        "Invalid value for 'data'",
        "missing: petal_width",
    ],
    "rawhttp_image": [
        "smoke: OK: 4 of 4 requests succeeded",
        "multipart upload (curl -F image=@sample.png) -> 200 OK",
        "bytes of image/png>",
        '{"palette": ["#',
        "Cannot read the upload as an image",
    ],
    "multi_model": [
        "smoke: OK: 3 of 3 requests succeeded",
        '"predictions": {"diabetes-linear": [',
        '"diabetes-tree": [',
        '"versions": {"diabetes-linear": "2", "diabetes-tree": "1"}',
        "got an array of shape [1, 3]",
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_OUTPUT))
def test_smoke_passes_for_sample(name, models, tmp_path):
    result = smoke(tmp_path, str(SAMPLES / name), "--model_dir", str(models[name]))
    assert result.returncode == 0, result.stdout
    for text in EXPECTED_OUTPUT[name]:
        assert text in result.stdout, f"{text!r} missing from:\n{result.stdout}"
    assert "ready in" in result.stdout and " ms: ok" in result.stdout  # timings are printed
    assert not list(tmp_path.glob("scorehost-smoke-*.log")), "the server log is removed after a passing run"


def test_smoke_builds_a_missing_model_with_make_model(tmp_path):
    sample = tmp_path / "multi_model"
    sample.mkdir()
    for file in ("score.py", "make_model.py", "sample-requests.json"):
        shutil.copy(SAMPLES / "multi_model" / file, sample / file)
    result = smoke(tmp_path, str(sample))
    assert result.returncode == 0, result.stdout
    assert "artifacts/ is missing: running make_model.py" in result.stdout
    assert (sample / "artifacts" / "diabetes-linear" / "2" / "model.joblib").is_file()
    assert "smoke: OK: 3 of 3 requests succeeded" in result.stdout


# ------------------------------------------------------------------ smoke's failures

def test_smoke_fails_when_init_fails(tmp_path):
    sample = write_sample(tmp_path / "broken", """
        import os

        def init():
            raise FileNotFoundError("no model.pkl in " + os.environ["AZUREML_MODEL_DIR"])

        def run(data):
            return data
        """, [{"x": 1}])
    (sample / "artifacts").mkdir()
    started = time.monotonic()
    result = smoke(tmp_path, str(sample))
    assert result.returncode == 3, result.stdout
    assert "the server exited with status 3 before it was ready" in result.stdout
    assert "init() raised FileNotFoundError: no model.pkl in" in result.stdout  # the reason, by name
    assert "--- server log" in result.stdout  # and the log tail with the traceback
    assert 'raise FileNotFoundError("no model.pkl in "' in result.stdout
    assert time.monotonic() - started < 120  # it does not wait for --timeout (180 s) to notice
    assert list(tmp_path.glob("scorehost-smoke-*.log")), "the full log is kept for a failed run"


def test_smoke_fails_on_a_500(tmp_path):
    sample = write_sample(tmp_path / "crashing", """
        def init():
            pass

        def run(data):
            if "boom" in data:
                raise RuntimeError("the model exploded")
            return "fine"
        """, [{"ok": 1}, {"boom": 1}, {"ok": 2}])
    result = smoke(tmp_path, str(sample))
    assert result.returncode == 1, result.stdout
    assert "[2/3] POST /score #2 -> 500 INTERNAL SERVER ERROR" in result.stdout
    assert "expected status 200, got 500" in result.stdout
    assert "RuntimeError: the model exploded" in result.stdout  # from the server log tail
    assert "smoke: FAILED: 1 of 3 requests failed" in result.stdout
    assert "[3/3]" in result.stdout  # the other requests still ran


def test_smoke_checks_request_objects(tmp_path):
    sample = write_sample(tmp_path / "echo", """
        import json

        def init():
            pass

        def run(data):
            return {"got": json.loads(data)}
        """, [
        {"name": "match", "body": {"a": 1}, "expect_json": {"got": {"a": 1}}},
        {"name": "contains", "body": [1, 2], "expect_contains": "[1, 2]", "expect_content_type": "application/json"},
        {"name": "json mismatch", "body": {"a": 1}, "expect_json": {"got": {"a": 2}}},
        {"name": "wrong status", "path": "/nowhere", "method": "GET", "expect_status": 200},
        {"name": "expected 404", "path": "/nowhere", "method": "GET", "expect_status": [404]},
    ])
    result = smoke(tmp_path, "--entry_script", str(sample / "score.py"))
    assert result.returncode == 1, result.stdout
    lines = {line.split(" -> ")[0].split(" #")[1]: line for line in result.stdout.splitlines()
             if line.startswith("[") and " -> " in line}
    assert lines["1 match"].endswith(": ok")
    assert lines["2 contains"].endswith(": ok")
    assert 'expected the JSON answer {"got": {"a": 2}}' in lines["3 json mismatch"]
    assert "expected status 200, got 404" in lines["4 wrong status"]
    assert lines["5 expected 404"].endswith(": ok")
    assert "smoke: FAILED: 2 of 5 requests failed" in result.stdout


def test_smoke_builds_multipart_file_text_and_get_requests(tmp_path):
    sample = write_sample(tmp_path / "mirror", """
        from azureml_inference_server_http.api.aml_request import rawhttp

        def init():
            pass

        @rawhttp
        def run(request):
            files = {name: [f.filename, f.mimetype, f.read().decode()] for name, f in request.files.items()}
            return {"method": request.method, "args": dict(request.args), "form": dict(request.form),
                    "files": files, "type": request.mimetype, "body": request.get_data(as_text=True) if not files
                    else None, "custom": request.headers.get("X-Custom")}
        """, [
        {"name": "multipart", "files": {"doc": "data/note.txt", "pic": {"file": "data/note.txt",
                                                                         "content_type": "image/png",
                                                                         "filename": "p.png"}},
         "form": {"caption": "hi", "n": 3},
         "expect_json": {"method": "POST", "args": {}, "form": {"caption": "hi", "n": "3"},
                         "files": {"doc": ["note.txt", "text/plain", "note\n"],
                                   "pic": ["p.png", "image/png", "note\n"]},
                         "type": "multipart/form-data", "body": None, "custom": None}},
        {"name": "file body", "body_file": "data/note.txt", "headers": {"X-Custom": "yes"},
         "expect_json": {"method": "POST", "args": {}, "form": {}, "files": {}, "type": "text/plain",
                         "body": "note\n", "custom": "yes"}},
        {"name": "text body", "body": "plain <text>", "content_type": "text/csv",
         "expect_contains": '"type": "text/csv", "body": "plain <text>"'},
        {"name": "get", "method": "get", "path": "/score?q=1",
         "expect_contains": '"method": "GET", "args": {"q": "1"}'},
    ])
    (sample / "data").mkdir()
    (sample / "data" / "note.txt").write_text("note\n")
    result = smoke(tmp_path, str(sample))
    assert result.returncode == 0, result.stdout
    assert "smoke: OK: 4 of 4 requests succeeded" in result.stdout


def test_smoke_posts_the_swagger_example_without_a_requests_file(tmp_path):
    sample = write_sample(tmp_path / "schema", """
        from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType
        from inference_schema.schema_decorators import input_schema

        def init():
            pass

        @input_schema("text", StandardPythonParameterType("hello smoke"))
        def run(text):
            return {"upper": text.upper()}
        """)
    result = smoke(tmp_path, str(sample))
    assert result.returncode == 0, result.stdout
    assert "posting the ServiceInput example" in result.stdout
    assert '{"upper": "HELLO SMOKE"}' in result.stdout


def test_smoke_sends_the_api_key_and_probes_on_its_own_port(tmp_path):
    sample = write_sample(tmp_path / "keyed", """
        from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType
        from inference_schema.schema_decorators import input_schema

        def init():
            pass

        @input_schema("n", StandardPythonParameterType(2))
        def run(n):
            return {"double": n * 2}
        """)
    env = {"SCOREHOST_API_KEY": "smoke-test-key", "SEPERATE_HEALTH_ENDPOINT": "true"}
    result = smoke(tmp_path, str(sample), env=env)  # the swagger example, fetched and posted with the key
    assert result.returncode == 0, result.stdout
    assert '{"double": 4}' in result.stdout
    (sample / "sample-requests.json").write_text(json.dumps([
        {"n": 3},
        {"name": "wrong key", "body": {"n": 1}, "headers": {"Authorization": "Bearer nope"}, "expect_status": 401},
    ]))
    result = smoke(tmp_path, str(sample), env=env)
    assert result.returncode == 0, result.stdout
    assert '{"double": 6}' in result.stdout and "-> 401" in result.stdout


def test_smoke_without_anything_to_post_is_a_usage_error(tmp_path):
    sample = write_sample(tmp_path / "plain", """
        def init():
            pass

        def run(data):
            return data
        """)
    result = smoke(tmp_path, str(sample))
    assert result.returncode == 2, result.stdout
    assert "nothing to post: add sample-requests.json" in result.stdout


@pytest.mark.parametrize("requests_text, message", [
    ("not json", "is not valid JSON"),
    ("{}", "must hold a non-empty JSON list"),
    ("[]", "must hold a non-empty JSON list"),
    ('[{"body_file": "missing.bin"}]', "request 1: body_file: cannot read"),
    ('[{"path": "score"}]', "'path' must start with '/'"),
    ('[{"body": 1, "files": {"f": "x"}}]', "give only one of 'body', 'body_file', 'files'/'form'"),
    ('[{"body": 1, "expect_status": "ok"}]', "'expect_status' must be an HTTP status"),
])
def test_smoke_rejects_a_bad_requests_file_before_starting(tmp_path, requests_text, message):
    sample = write_sample(tmp_path / "s", "def init():\n    pass\n\ndef run(data):\n    return data\n")
    (sample / "sample-requests.json").write_text(requests_text)
    result = smoke(tmp_path, str(sample), timeout=60)
    assert result.returncode == 2, result.stdout
    assert message in result.stdout
    assert "starting scorehost" not in result.stdout


@pytest.mark.parametrize("args, message", [
    ([], "nothing to smoke-test"),
    (["does/not/exist"], "does/not/exist does not exist"),
    (["."], "has no score.py"),
    ([".", "--entry_script", "x.py"], "either PATH or --entry_script"),
])
def test_smoke_usage_errors(tmp_path, args, message):
    result = smoke(tmp_path, *args, timeout=60)
    assert result.returncode == 2, result.stdout
    assert message in result.stdout


def test_smoke_stops_the_server_when_terminated(tmp_path):
    sample = write_sample(tmp_path / "slow", """
        import time

        def init():
            time.sleep(600)

        def run(data):
            return data
        """, [{"x": 1}])
    proc = subprocess.Popen([sys.executable, "-m", "scorehost", "smoke", str(sample)], cwd=str(tmp_path),
                            env=clean_env(tmp_path), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        in_init = False
        deadline = time.monotonic() + 60
        while not in_init and time.monotonic() < deadline:  # wait until the server runs init()
            logs = list(tmp_path.glob("scorehost-smoke-*.log"))
            in_init = bool(logs) and "Invoking user's init function" in logs[0].read_text(errors="replace")
            time.sleep(0.1)
        assert in_init, "the server never reached init()"
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert proc.returncode == 130, output
    assert "interrupted: stopping the server" in output
    pid = int(output.split("(pid ")[1].split(")")[0])
    deadline = time.monotonic() + 15  # killed processes may take a moment to be reaped
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            break  # the server's whole process group is gone
        time.sleep(0.1)
    else:
        pytest.fail(f"the server's process group {pid} is still alive")


# ------------------------------------------------------------------ sklearn_schema over HTTP

@pytest.fixture
def schema_server(sample_server):
    return sample_server("sklearn_schema")


def test_schema_sample_swagger_documents_pandas_input_and_numpy_output(schema_server):
    for version, schemas in (("3", lambda d: d["components"]["schemas"]), ("2", lambda d: d["definitions"])):
        resp = schema_server.request("GET", f"/swagger.json?version={version}")
        assert resp.status == 200
        doc = schemas(resp.json())
        data = doc["ServiceInput"]["properties"]["data"]
        assert data["format"] == "pandas.DataFrame:records"
        assert data["items"]["required"] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
        assert data["items"]["properties"]["petal_width"] == {"type": "number", "format": "double"}
        assert doc["ServiceInput"]["example"]["data"][0] == IRIS_ROWS[0]
        output = doc["ServiceOutput"]["properties"]
        assert output["predictions"] == {"type": "array", "items": {"type": "string"}, "format": "numpy.ndarray"}
        assert output["probabilities"]["format"] == "numpy.ndarray"
        assert output["probabilities"]["items"]["items"]["type"] == "number"


def test_schema_sample_predicts_each_species(schema_server, models):
    resp = schema_server.score({"data": IRIS_ROWS})
    assert resp.status == 200, resp.body
    answer = resp.json()
    assert answer["predictions"] == ["setosa", "versicolor", "virginica"]
    assert answer["classes"] == ["setosa", "versicolor", "virginica"]
    probabilities = np.array(answer["probabilities"])
    assert probabilities.shape == (3, 3)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3)
    # the same numbers as the model itself gives
    import pandas as pd
    model = joblib.load(models["sklearn_schema"] / "model.joblib")
    assert np.allclose(probabilities, model.predict_proba(pd.DataFrame(IRIS_ROWS)), atol=1e-4)


@pytest.mark.parametrize("body, headers, status, message", [
    (json.dumps({"data": IRIS_ROWS}), {"Content-Type": "text/plain"}, 415, "Content-Type to be application/json"),
    ("{not json", {"Content-Type": "application/json"}, 400, "could not be decoded as JSON"),
    ("{}", {"Content-Type": "application/json"}, 400, "A value is not provided for the 'data' parameter"),
    (json.dumps({"data": [dict(IRIS_ROWS[0], sepal_length="wide")]}), {"Content-Type": "application/json"}, 400,
     "Invalid value for 'data'"),
    (json.dumps({"data": [{"sepal_length": 5.1}]}), {"Content-Type": "application/json"}, 400,
     "missing: sepal_width, petal_length, petal_width"),
    (json.dumps({"data": []}), {"Content-Type": "application/json"}, 400, "'data' is empty"),
    (json.dumps({"data": [dict(IRIS_ROWS[0], petal_width=None)]}), {"Content-Type": "application/json"}, 400,
     "got null or non-finite values"),
])
def test_schema_sample_rejects_bad_input_with_a_clear_message(schema_server, body, headers, status, message):
    resp = schema_server.score(body, headers=headers)
    assert resp.status == status, resp.body
    assert message in resp.json()["message"]
    assert b"Traceback" not in resp.body


# ------------------------------------------------------------------ rawhttp_image over HTTP

@pytest.fixture
def image_server(sample_server):
    return sample_server("rawhttp_image")


def multipart(field: str, filename: str, data: bytes, content_type: str) -> tuple[bytes, dict]:
    boundary = "test-boundary-7d1f"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
            f"Content-Type: {content_type}\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_image_sample_answers_png_bytes_in_the_palette(image_server, models):
    picture = (SAMPLES / "rawhttp_image" / "sample.png").read_bytes()
    body, headers = multipart("image", "sample.png", picture, "image/png")
    resp = image_server.score(body, headers=headers)
    assert resp.status == 200, resp.body[:500]
    assert resp.header("content-type") == "image/png"
    assert resp.body.startswith(PNG_SIGNATURE)
    out = Image.open(io.BytesIO(resp.body))
    assert out.size == Image.open(io.BytesIO(picture)).size == (96, 64)
    palette = joblib.load(models["rawhttp_image"] / "palette.joblib")
    allowed = {tuple(round(float(c) * 255) for c in center) for center in palette.cluster_centers_}
    used = {color for _, color in out.convert("RGB").getcolors(maxcolors=1 << 16)}
    assert used <= allowed and len(used) >= 2

    raw = image_server.score(picture, headers={"Content-Type": "image/png"})  # the raw-body way
    assert raw.status == 200 and raw.header("content-type") == "image/png"
    assert raw.body == resp.body


def test_image_sample_scales_down_large_pictures(image_server):
    big = Image.new("RGB", (1600, 400), (200, 30, 40))
    body, headers = multipart("image", "big.jpg", png_bytes(big), "image/png")
    resp = image_server.score(body, headers=headers)
    assert resp.status == 200
    assert resp.header("x-image-size") == "512x128"
    assert Image.open(io.BytesIO(resp.body)).size == (512, 128)


def test_image_sample_get_describes_the_palette(image_server):
    resp = image_server.request("GET", "/score")
    assert resp.status == 200
    colors = resp.json()["palette"]
    assert len(colors) == 8 and all(c.startswith("#") and len(c) == 7 for c in colors)


@pytest.mark.parametrize("make, status, message", [
    (lambda: (b"hello", {"Content-Type": "text/plain"}), 400, "multipart/form-data file field named 'image'"),
    (lambda: multipart("image", "notes.png", b"not a picture", "image/png"), 400, "Cannot read the upload as an image"),
    (lambda: multipart("photo", "x.png", PNG_SIGNATURE, "image/png"), 400, "field named 'image'"),
    (lambda: multipart("image", "empty.png", b"", "image/png"), 400, "The image is empty"),
    (lambda: (PNG_SIGNATURE + b"\0" * 20, {"Content-Type": "image/png"}), 400, "Cannot read the upload as an image"),
])
def test_image_sample_rejects_bad_uploads_with_a_clear_message(image_server, make, status, message):
    body, headers = make()
    resp = image_server.score(body, headers=headers)
    assert resp.status == status, resp.body[:500]
    assert resp.header("content-type") == "application/json"
    assert message in resp.json()["message"]


# ------------------------------------------------------------------ multi_model over HTTP

DIABETES_ROWS = [
    [0.03808, 0.05068, 0.0617, 0.02187, -0.04422, -0.03482, -0.0434, -0.00259, 0.01991, -0.01765],
    [-0.00188, -0.04464, -0.05147, -0.02633, -0.00845, -0.01916, 0.07441, -0.03949, -0.06833, -0.0922],
]


def test_multi_model_sample_uses_both_models_at_their_highest_version(sample_server, models):
    model_dir = models["multi_model"]
    server = sample_server("multi_model")
    resp = server.score({"data": DIABETES_ROWS})
    assert resp.status == 200, resp.body
    answer = resp.json()
    assert answer["versions"] == {"diabetes-linear": "2", "diabetes-tree": "1"}
    linear = joblib.load(model_dir / "diabetes-linear" / "2" / "model.joblib").predict(np.array(DIABETES_ROWS))
    tree = joblib.load(model_dir / "diabetes-tree" / "1" / "model.joblib").predict(np.array(DIABETES_ROWS))
    assert answer["predictions"]["diabetes-linear"] == pytest.approx(linear, abs=0.01)
    assert answer["predictions"]["diabetes-tree"] == pytest.approx(tree, abs=0.01)
    assert answer["mean"] == pytest.approx((linear + tree) / 2, abs=0.01)
    assert answer["predictions"]["diabetes-linear"] != answer["predictions"]["diabetes-tree"]


def test_multi_model_sample_follows_the_versions_on_disk(serve, models, tmp_path):
    model_dir = tmp_path / "azureml-models"
    shutil.copytree(models["multi_model"], model_dir)
    shutil.rmtree(model_dir / "diabetes-linear" / "2")  # only version 1 left
    server = serve(SAMPLES / "multi_model" / "score.py", "--model_dir", str(model_dir))
    answer = server.score({"data": DIABETES_ROWS[:1]}).json()
    assert answer["versions"] == {"diabetes-linear": "1", "diabetes-tree": "1"}
    v1 = joblib.load(model_dir / "diabetes-linear" / "1" / "model.joblib").predict(np.array(DIABETES_ROWS[:1]))
    assert answer["predictions"]["diabetes-linear"] == pytest.approx(v1, abs=0.01)


def test_multi_model_sample_rejects_bad_input(sample_server):
    server = sample_server("multi_model")
    for body, message in [
        ("[1, 2]", "TypeError"),
        ('{"rows": []}', "KeyError"),
        ('{"data": [[1, 2, 3]]}', "got an array of shape [1, 3]"),
        ('{"data": [[1, 2], [3]]}', "ValueError"),
        ('{"data": "abc"}', "ValueError"),
        ('{"data": []}', "got an array of shape [0]"),
        ('{"data": [[1e400, 0, 0, 0, 0, 0, 0, 0, 0, 0]]}', "the numbers must be finite"),
    ]:
        resp = server.score(body, headers={"Content-Type": "application/json"})
        assert resp.status == 400, (body, resp.body)
        text = resp.json()["message"]
        assert text.startswith('Expected {"data": [[10 numbers], ...]}') and message in text, (body, text)
