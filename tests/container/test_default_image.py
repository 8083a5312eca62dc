"""The default image (repo Dockerfile): build, serve, users, read-only, SIGTERM,
extra requirements at start."""
from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import zipfile
from pathlib import Path

import pytest

from containerlib import APP_ROOT, FIXTURES, http

pytestmark = pytest.mark.container

MODEL = FIXTURES / "model"
EXTRA_PACKAGES_DIR = "/tmp/scorehost-extra-packages"


def test_image_builds_with_expected_config(engine, scorehost_image):
    image = engine.inspect_image(scorehost_image)
    config = image["Config"]
    assert config["User"] == "1000:0"
    assert config["Entrypoint"] == ["scorehost", "serve"]
    assert "5001/tcp" in config["ExposedPorts"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["AML_APP_ROOT"] == APP_ROOT
    assert env["PYTHONUNBUFFERED"] == "1" and env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["HOME"] == "/tmp"
    healthcheck = config.get("Healthcheck") or image.get("Healthcheck")  # docker / podman
    assert healthcheck, "HEALTHCHECK lost (podman: build with --format docker)"
    assert "/health/live" in " ".join(healthcheck["Test"])


def test_serves_score_and_probes(engine, scorehost_image, serve):
    c = serve(scorehost_image, entry_script="echo_score.py", model=MODEL, model_name="echo")
    assert c.get("/health/live")[0] == 200
    assert c.get("/health/ready")[0] == 200
    status, body = c.get("/")
    assert (status, body.strip()) == (200, "Healthy")
    assert c.score_json({"x": 2}) == {"greeting": "hello from the model", "times_factor": 6}
    pid1 = engine("exec", c.name, "cat", "/proc/1/cmdline").stdout.split("\0")
    assert any(arg.endswith("/scorehost") for arg in pid1) and "serve" in pid1, pid1  # exec form: PID 1
    if engine.is_podman:  # the image's HEALTHCHECK command passes
        engine("healthcheck", "run", c.name, timeout=30)


def test_live_before_ready(scorehost_image, serve):
    c = serve(scorehost_image, entry_script="slow_init_score.py", wait_ready=False)
    c.wait_for("/health/live", 200, timeout=60)
    status, _ = c.get("/health/ready")
    assert status == 503, "readiness must be 503 while init() runs (5 s)"
    c.wait_for("/health/ready", 200, timeout=60)
    assert c.score_json({}) == {"ok": True}


@pytest.mark.parametrize(
    "run_args, uid, app_root_writable",
    [
        pytest.param((), 1000, True, id="default-user"),
        pytest.param(("--user", "12345:0"), 12345, True, id="arbitrary-uid"),
        pytest.param(("--read-only", "--tmpfs", "/tmp:rw,mode=1777"), 1000, False, id="read-only"),
        pytest.param(("--read-only", "--tmpfs", "/tmp:rw,mode=1777", "--user", "12345:0"), 12345, False,
                     id="read-only-arbitrary-uid"),
    ],
)
def test_runs_unprivileged(scorehost_image, serve, run_args, uid, app_root_writable):
    c = serve(scorehost_image, entry_script="whoami_score.py", run_args=run_args)
    assert c.score_json({}) == {
        "uid": uid,
        "gid": 0,
        "home": "/tmp",
        "tmp_writable": True,
        "app_root_writable": app_root_writable,
    }


def test_sigterm_finishes_in_flight_request(engine, scorehost_image, serve):
    grace = 10
    c = serve(scorehost_image, entry_script="slow_score.py",
              env={"SCOREHOST_GRACEFUL_TIMEOUT": str(grace)})
    result = {}
    request = threading.Thread(target=lambda: result.update(answer=c.score({}, timeout=30)))
    request.start()
    time.sleep(0.7)  # the request is now inside run(), which sleeps 2 s

    started = time.monotonic()
    engine("stop", "--time", str(grace + 10), c.name, timeout=grace + 30)  # SIGTERM, SIGKILL after grace+10 s
    stopped_after = time.monotonic() - started
    request.join(timeout=30)

    status, body = result.get("answer", (0, ""))
    assert status == 200 and json.loads(body) == {"slept": 2}, f"in-flight request lost: {result}\n{c.logs()}"
    assert engine.exit_code(c.name, timeout=10) == 0, c.logs()
    assert stopped_after < grace, f"took {stopped_after:.1f} s to stop (grace {grace} s)"


def _make_wheel(directory: Path, name: str, version: str, module_source: str) -> Path:
    """A minimal pure-Python wheel, built without setuptools or network."""
    dist = f"{name.replace('-', '_')}-{version}"
    files = {
        f"{name.replace('-', '_')}.py": module_source.encode(),
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: scorehost-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = directory / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    wheel.chmod(0o644)
    return wheel


def _extra_requirements_dir(root: Path, requirement: str) -> Path:
    """A directory with a local wheel and a requirements file that needs no network."""
    extra = root / "extra"
    extra.mkdir(mode=0o755)
    _make_wheel(extra, "scorehost-extra-probe", "1.0", "VALUE = 'installed at start'\n")
    requirements = extra / "requirements.txt"
    requirements.write_text(f"--no-index\n--find-links {APP_ROOT}/extra\n{requirement}\n")
    requirements.chmod(0o644)
    return extra


@pytest.mark.parametrize(
    "run_args, location",
    [
        pytest.param((), "/opt/scorehost/venv/", id="into-site-packages"),
        pytest.param(("--read-only", "--tmpfs", "/tmp:rw,mode=1777", "--user", "12345:0"),
                     EXTRA_PACKAGES_DIR + "/", id="read-only-into-tmp"),
    ],
)
def test_extra_requirements_installed_at_start(scorehost_image, serve, world_readable_tmp, run_args, location):
    extra = _extra_requirements_dir(world_readable_tmp, "scorehost-extra-probe==1.0")
    c = serve(
        scorehost_image,
        entry_script="extra_score.py",
        env={"AZUREML_EXTRA_REQUIREMENTS_TXT": "extra/requirements.txt"},  # relative to AML_APP_ROOT
        run_args=("-v", f"{extra}:{APP_ROOT}/extra:ro", *run_args),
    )
    answer = c.score_json({})
    assert answer["probe"] == "installed at start"
    assert answer["location"].startswith(location), answer


def test_extra_requirements_failure_exits_3(engine, scorehost_image, serve, world_readable_tmp):
    extra = _extra_requirements_dir(world_readable_tmp, "scorehost-no-such-package==9.9")
    c = serve(
        scorehost_image,
        entry_script="echo_score.py",
        model=MODEL,
        env={"AZUREML_EXTRA_REQUIREMENTS_TXT": f"{APP_ROOT}/extra/requirements.txt"},
        run_args=("-v", f"{extra}:{APP_ROOT}/extra:ro"),
        wait_ready=False,
    )
    assert engine.exit_code(c.name, timeout=90) == 3, c.logs()
    logs = c.logs()
    assert f"{APP_ROOT}/extra/requirements.txt" in logs and "scorehost-no-such-package" in logs, logs
    assert http("GET", c.url("/health/live"), timeout=2)[0] == 0
