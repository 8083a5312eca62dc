"""Helpers for the container tests: the engine CLI, HTTP, running containers.

Imported by conftest.py and the test modules (a module of its own, so that
it never clashes with another conftest.py on sys.path).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FIXTURES = HERE / "fixtures"

BASE_IMAGE = os.environ.get("SCOREHOST_BASE_IMAGE", "docker.io/library/debian:bookworm-slim")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
APP_ROOT = "/var/azureml-app"
MODELS_ROOT = f"{APP_ROOT}/azureml-models"

BUILD_TIMEOUT = 1500  # seconds, per image (the TensorFlow one downloads ~600 MB)
READY_TIMEOUT = 120  # seconds from `run` to /health/ready == 200

# name -> value; printed at the end of the session (README numbers come from here).
MEASUREMENTS: dict[str, str] = {}


class Engine:
    """A container engine CLI (podman or docker)."""

    def __init__(self, exe: str):
        self.exe = exe
        self.is_podman = Path(exe).name == "podman"

    def __call__(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [self.exe, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"`{self.exe} {' '.join(args)}` exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
            )
        return proc

    def image_exists(self, name: str) -> bool:
        if self.is_podman:
            return self("image", "exists", name, check=False).returncode == 0
        return self("image", "inspect", name, check=False).returncode == 0

    def inspect_image(self, name: str) -> dict:
        return json.loads(self("image", "inspect", name).stdout)[0]

    def image_size_mb(self, name: str) -> float:
        return self.inspect_image(name)["Size"] / 1e6

    def build(self, tag: str, context: Path, *, dockerfile: Optional[Path] = None, target: Optional[str] = None,
              build_args: Optional[dict[str, str]] = None, timeout: float = BUILD_TIMEOUT) -> float:
        """Build *context* (its stage *target*, else the last) as *tag*; return the seconds it took."""
        args = ["build", "--network", "host", "-t", tag]
        if target is not None:
            args += ["--target", target]
        if self.is_podman:
            # docker format keeps HEALTHCHECK; no registry: FROM must be local.
            # Without layer caching nothing but the tagged image is left behind
            # (removed at the end of the session); SCOREHOST_TEST_BUILD_CACHE=1
            # keeps the cache for quicker reruns.
            cache = os.environ.get("SCOREHOST_TEST_BUILD_CACHE") == "1"
            args += ["--pull=never", "--format", "docker", f"--layers={str(cache).lower()}"]
        if dockerfile is not None:
            args += ["-f", str(dockerfile)]
        if HOST_CA_BUNDLE.is_file():
            args += ["--secret", f"id=cacert,src={HOST_CA_BUNDLE}"]
        for key, value in {**host_pip_index_args(), **(build_args or {})}.items():
            args += ["--build-arg", f"{key}={value}"]
        started = time.monotonic()
        self(*args, str(context), timeout=timeout)
        return time.monotonic() - started

    def remove_container(self, name: str) -> None:
        stop_now = ["--time", "0"] if self.is_podman else []
        self("rm", "-f", *stop_now, name, check=False, timeout=60)

    def remove_image(self, name: str) -> None:
        self("rmi", "-f", name, check=False, timeout=120)

    def exit_code(self, name: str, timeout: float) -> int:
        """Wait (at most *timeout* s) for container *name* to exit; return its exit code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = json.loads(self("inspect", "--format", "{{json .State}}", name).stdout)
            if state.get("Status") in ("exited", "stopped", "dead"):
                return int(state["ExitCode"])
            time.sleep(0.5)
        raise AssertionError(f"container {name} still running after {timeout} s")


def find_engine() -> tuple[Optional[Engine], str]:
    reasons = []
    for exe in (os.environ.get("SCOREHOST_CONTAINER_ENGINE"), "podman", "docker"):
        if not exe:
            continue
        path = shutil.which(exe)
        if not path:
            reasons.append(f"{exe}: not found on PATH")
            continue
        engine = Engine(path)
        try:
            info = engine("info", timeout=60, check=False)
        except subprocess.TimeoutExpired:
            reasons.append(f"{exe}: `{exe} info` did not answer within 60 s")
            continue
        if info.returncode == 0:
            return engine, ""
        if engine.is_podman:  # podman is installed but broken: that is a failure, not a skip
            raise RuntimeError(f"`podman info` failed: {info.stderr.strip()[-2000:]}")
        reasons.append(f"{exe}: installed, but no engine answers ({info.stderr.strip().splitlines()[-1:]})")
    return None, "; ".join(reasons)


def host_pip_index_args() -> dict[str, str]:
    """The host's pip index settings that a build can use (http(s) only: a
    file:// index of the host is not visible inside the build)."""
    result = {}
    for option, arg in (("index-url", "PIP_INDEX_URL"), ("extra-index-url", "PIP_EXTRA_INDEX_URL")):
        value = os.environ.get(arg)
        if value is None:
            proc = subprocess.run(
                [sys.executable, "-m", "pip", "config", "get", f"global.{option}"],
                capture_output=True, text=True, timeout=60, check=False,
            )
            value = proc.stdout.strip() if proc.returncode == 0 else ""
        urls = [u for u in value.split() if u.startswith(("http://", "https://"))]
        if urls:
            result[arg] = " ".join(urls)
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body: Optional[bytes] = None, timeout: float = 30,
         headers: Optional[dict[str, str]] = None) -> tuple[int, str]:
    """(status, body); status 0 when the connection fails."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, ConnectionError, TimeoutError, socket.timeout):
        return 0, ""


@dataclass
class Container:
    engine: Engine
    name: str
    port: int
    started: float = field(default_factory=time.monotonic)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str, timeout: float = 30) -> tuple[int, str]:
        return http("GET", self.url(path), timeout=timeout)

    def score(self, payload, timeout: float = 60) -> tuple[int, str]:
        return http("POST", self.url("/score"), json.dumps(payload).encode(), timeout=timeout,
                    headers={"Content-Type": "application/json"})

    def score_json(self, payload, timeout: float = 60):
        status, body = self.score(payload, timeout)
        assert status == 200, f"/score answered {status}: {body}\n{self.logs()}"
        return json.loads(body)

    def running(self) -> bool:
        proc = self.engine("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return proc.returncode == 0 and proc.stdout.strip() == "true"

    def logs(self) -> str:
        proc = self.engine("logs", self.name, check=False)
        return f"--- logs of {self.name} ---\n{proc.stdout[-6000:]}{proc.stderr[-6000:]}"

    def wait_for(self, path: str, status: int = 200, timeout: float = READY_TIMEOUT) -> float:
        """Poll GET *path* until it answers *status*; return seconds since start."""
        deadline = time.monotonic() + timeout
        last = (None, "")
        while time.monotonic() < deadline:
            last = self.get(path, timeout=5)
            if last[0] == status:
                return time.monotonic() - self.started
            if not self.running():
                raise AssertionError(f"container {self.name} exited before {path} answered {status}\n{self.logs()}")
            time.sleep(0.25)
        raise AssertionError(
            f"{path} did not answer {status} within {timeout} s (last: {last[0]} {last[1][:200]!r})\n{self.logs()}"
        )
