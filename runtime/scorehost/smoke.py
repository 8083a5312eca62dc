"""``scorehost smoke``: boot an entry script on a free loopback port, post its sample requests.

    scorehost smoke PATH                      # a sample folder (score.py ...) or an entry script
    scorehost smoke --entry_script S [--model_dir M] [--requests R] [--timeout SECONDS]

A sample folder holds:

- ``score.py`` (the entry script);
- ``artifacts/`` (optional): the model directory, served as ``AZUREML_MODEL_DIR``;
- ``make_model.py`` (optional): when ``artifacts/`` is missing and no ``--model_dir`` is
  given, smoke runs ``python make_model.py`` first (it should write ``artifacts/``);
- ``sample-requests.json`` (optional): a JSON list of requests. An item is either a JSON
  body, POSTed to /score as application/json, or a request object: an object whose keys are
  all among :data:`SPEC_KEYS` and which has ``body``, ``body_file``, ``files`` or ``path``::

      {"name": "upload", "method": "POST", "path": "/score", "headers": {"X-A": "1"},
       "body": <JSON value, or a string sent as it is>, "body_file": "relative/file",
       "content_type": "image/png", "files": {"image": "sample.png"}, "form": {"k": "v"},
       "expect_status": 200, "expect_content_type": "image/png",
       "expect_json": <the JSON answer>, "expect_contains": "text in the answer"}

  (A JSON body that happens to look like a request object can be wrapped: ``{"body": ...}``.)
  Without the file, the ServiceInput example of the OpenAPI document (``GET
  /swagger.json?version=3``, from ``@input_schema``) is posted.

The server runs as ``python -m scorehost serve`` with the same interpreter, in its own process
group, with the folder as working directory (so as the app root) and the caller's environment
(minus SEPERATE_HEALTH_ENDPOINT: probes are on the smoke port). When SCOREHOST_API_KEY(_FILE) is
set, requests without an Authorization header get ``Bearer <key>``. Its output goes to a log file
whose tail is printed when something fails. Exit status: 0 every request answered as expected,
1 a request failed, 2 usage error (bad paths, bad requests file, nothing to post), 3 the server
(or make_model.py) failed to start.
"""
from __future__ import annotations

import argparse
import http.client
import json
import mimetypes
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_START = 0, 1, 2, 3
SAMPLE_REQUESTS = "sample-requests.json"
MODEL_DIR = "artifacts"
MAKE_MODEL = "make_model.py"
SPEC_KEYS = frozenset({"name", "method", "path", "headers", "body", "body_file", "content_type", "files", "form",
                       "expect_status", "expect_content_type", "expect_json", "expect_contains"})
_SPEC_MARKERS = ("body", "body_file", "files", "path")
REQUEST_TIMEOUT = 120.0  # seconds per request (scorehost's own scoring timeout is shorter by default)
BODY_PREVIEW = 2000  # characters of each answer printed
LOG_TAIL = 60  # lines of the server log printed on failure
PORT_ATTEMPTS = 3


class UsageError(Exception):
    pass


def say(*parts: Any) -> None:
    print(*parts, flush=True)


# ------------------------------------------------------------------ what to serve

@dataclass
class Target:
    entry_script: str
    folder: str
    model_dir: str | None
    make_model: str | None  # a make_model.py to run first
    requests_file: str | None


def resolve_target(args: argparse.Namespace) -> Target:
    path = args.path
    entry = args.entry_script
    if path and entry:
        raise UsageError("give either PATH or --entry_script, not both")
    if not path and not entry:
        raise UsageError("nothing to smoke-test: give a sample folder (with score.py) or --entry_script")
    if path:
        if os.path.isdir(path):
            entry = os.path.join(path, "score.py")
            if not os.path.isfile(entry):
                raise UsageError(f"{path} has no score.py (give the entry script itself, or --entry_script)")
        elif os.path.isfile(path):
            entry = path
        else:
            raise UsageError(f"{path} does not exist")
    elif not os.path.isfile(entry):
        raise UsageError(f"entry script {entry} does not exist")
    entry = os.path.abspath(entry)
    folder = os.path.dirname(entry)

    make_model = None
    if args.model_dir:
        model_dir = os.path.abspath(args.model_dir)
        if not os.path.isdir(model_dir):
            raise UsageError(f"model directory {args.model_dir} does not exist")
    else:
        model_dir = os.path.join(folder, MODEL_DIR)
        if not os.path.isdir(model_dir):
            candidate = os.path.join(folder, MAKE_MODEL)
            if os.path.isfile(candidate):
                make_model = candidate
            else:
                model_dir = None

    if args.requests:
        requests_file = os.path.abspath(args.requests)
        if not os.path.isfile(requests_file):
            raise UsageError(f"requests file {args.requests} does not exist")
    else:
        candidate = os.path.join(folder, SAMPLE_REQUESTS)
        requests_file = candidate if os.path.isfile(candidate) else None
    return Target(entry, folder, model_dir, make_model, requests_file)


# ------------------------------------------------------------------ requests

@dataclass
class SampleRequest:
    label: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None
    expect_status: list[int] = field(default_factory=lambda: [200])
    expect_content_type: str | None = None
    expect_json: Any = None
    has_expect_json: bool = False
    expect_contains: str | None = None


def _is_spec(item: Any) -> bool:
    return isinstance(item, dict) and bool(item) and set(item) <= SPEC_KEYS and any(k in item for k in _SPEC_MARKERS)


def _read_file(base: str, rel: Any, where: str) -> tuple[str, bytes]:
    if not isinstance(rel, str) or not rel:
        raise UsageError(f"{where}: expected a file path (relative to {base}), got {rel!r}")
    path = os.path.join(base, rel)
    try:
        with open(path, "rb") as fh:
            return path, fh.read()
    except OSError as exc:
        raise UsageError(f"{where}: cannot read {path}: {exc.strerror or exc}") from None


def _multipart(base: str, files: Any, form: Any, where: str) -> tuple[bytes, str]:
    if not isinstance(files or {}, dict) or not isinstance(form or {}, dict):
        raise UsageError(f"{where}: 'files' and 'form' must be objects (field name -> file path / value)")
    boundary = "scorehost-smoke-" + uuid.uuid4().hex
    out = bytearray()

    def part(disposition: str, content_type: str | None, data: bytes) -> None:
        out.extend(f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n".encode())
        if content_type:
            out.extend(f"Content-Type: {content_type}\r\n".encode())
        out.extend(b"\r\n" + data + b"\r\n")

    for name, value in (form or {}).items():
        text = value if isinstance(value, str) else json.dumps(value)
        part(f'name="{name}"', None, text.encode("utf-8"))
    for name, spec in (files or {}).items():
        if isinstance(spec, dict):
            rel, ctype, filename = spec.get("file"), spec.get("content_type"), spec.get("filename")
        else:
            rel, ctype, filename = spec, None, None
        path, data = _read_file(base, rel, f"{where}: files.{name}")
        filename = filename or os.path.basename(path)
        ctype = ctype or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        part(f'name="{name}"; filename="{filename}"', ctype, data)
    out.extend(f"--{boundary}--\r\n".encode())
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def build_request(item: Any, index: int, base: str) -> SampleRequest:
    where = f"request {index}"
    if not _is_spec(item):
        return SampleRequest(f"#{index}", "POST", "/score", {"Content-Type": "application/json"},
                             json.dumps(item).encode("utf-8"))
    name = item.get("name")
    method = item.get("method", "POST")
    path = item.get("path", "/score")
    headers = item.get("headers") or {}
    if not isinstance(method, str) or not re.fullmatch(r"[A-Za-z]+", method):
        raise UsageError(f"{where}: 'method' must be an HTTP method such as POST, got {method!r}")
    if not isinstance(path, str) or not path.startswith("/"):
        raise UsageError(f"{where}: 'path' must start with '/', got {path!r}")
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise UsageError(f"{where}: 'headers' must be an object of strings")
    headers = dict(headers)
    content_type = item.get("content_type")
    sources = [k for k in ("body", "body_file") if k in item] + (["files/form"] if "files" in item or "form" in item
                                                                  else [])
    if len(sources) > 1:
        raise UsageError(f"{where}: give only one of 'body', 'body_file', 'files'/'form' (got {', '.join(sources)})")
    body: bytes | None = None
    if "body" in item:
        value = item["body"]
        if isinstance(value, str) and content_type and "json" not in content_type:
            body = value.encode("utf-8")  # text sent as it is
        else:
            body = json.dumps(value).encode("utf-8")
            content_type = content_type or "application/json"
    elif "body_file" in item:
        path_, body = _read_file(base, item["body_file"], f"{where}: body_file")
        content_type = content_type or mimetypes.guess_type(path_)[0] or "application/octet-stream"
    elif "files" in item or "form" in item:
        body, content_type = _multipart(base, item.get("files"), item.get("form"), where)
    if content_type and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = content_type

    expect = item.get("expect_status", 200)
    expect = expect if isinstance(expect, list) else [expect]
    if not expect or not all(isinstance(s, int) and 100 <= s <= 599 for s in expect):
        raise UsageError(f"{where}: 'expect_status' must be an HTTP status or a list of them, "
                         f"got {item['expect_status']!r}")
    req = SampleRequest(f"#{index}" + (f" {name}" if name else ""), method.upper(), path, headers, body, expect)
    req.expect_content_type = item.get("expect_content_type")
    if "expect_json" in item:
        req.expect_json, req.has_expect_json = item["expect_json"], True
    req.expect_contains = item.get("expect_contains")
    return req


def load_requests(path: str) -> list[SampleRequest]:
    try:
        with open(path, encoding="utf-8") as fh:
            items = json.load(fh)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(items, list) or not items:
        raise UsageError(f"{path} must hold a non-empty JSON list of requests (JSON bodies or request objects)")
    base = os.path.dirname(path)
    return [build_request(item, i, base) for i, item in enumerate(items, 1)]


# ------------------------------------------------------------------ HTTP

@dataclass
class Answer:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    ms: float


def send(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
         timeout: float = REQUEST_TIMEOUT) -> Answer:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return Answer(resp.status, resp.reason, {k.lower(): v for k, v in resp.getheaders()}, data,
                      (time.perf_counter() - started) * 1000)
    finally:
        conn.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def preview(answer: Answer) -> str:
    ctype = answer.headers.get("content-type", "")
    text = None
    if not ctype or "json" in ctype or ctype.startswith("text/") or "xml" in ctype:
        try:
            text = answer.body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    if text is None:
        return f"<{len(answer.body)} bytes of {ctype or 'unknown type'}>"
    if len(text) > BODY_PREVIEW:
        return text[:BODY_PREVIEW] + f"... ({len(text)} characters)"
    return text


def check(req: SampleRequest, answer: Answer) -> list[str]:
    problems = []
    if answer.status not in req.expect_status:
        expected = " or ".join(map(str, req.expect_status))
        problems.append(f"expected status {expected}, got {answer.status}")
    ctype = answer.headers.get("content-type", "")
    if req.expect_content_type and not ctype.lower().startswith(req.expect_content_type.lower()):
        problems.append(f"expected Content-Type {req.expect_content_type}, got {ctype or 'none'}")
    if req.has_expect_json:
        try:
            got = json.loads(answer.body)
        except ValueError:
            problems.append("expected a JSON answer, got something else")
        else:
            if got != req.expect_json:
                problems.append(f"expected the JSON answer {json.dumps(req.expect_json)}")
    if req.expect_contains is not None and req.expect_contains.encode("utf-8") not in answer.body:
        problems.append(f"expected the answer to contain {req.expect_contains!r}")
    return problems


# ------------------------------------------------------------------ the server

def stop_process_group(proc: subprocess.Popen, grace_s: float) -> None:
    """Stop a server started in its own process group: SIGTERM, up to ``grace_s`` to exit,
    then SIGKILL to whatever is left of the group (runners, exporter)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=grace_s)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


class Server:
    def __init__(self, target: Target):
        self.target = target
        self.port = free_port()
        fd, self.log_path = tempfile.mkstemp(prefix="scorehost-smoke-", suffix=".log")
        os.close(fd)
        argv = [sys.executable, "-m", "scorehost", "serve", "--entry_script", target.entry_script,
                "--host", "127.0.0.1", "--port", str(self.port)]
        if target.model_dir:
            argv += ["--model_dir", target.model_dir]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("SEPERATE_HEALTH_ENDPOINT", None)  # probes on our free port, not on HEALTH_PORT
        self.started = time.monotonic()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, cwd=target.folder, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float) -> float | None:
        """Seconds to readiness, or None if the server exited or the timeout passed."""
        deadline = self.started + timeout
        delay = 0.05
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return None
            try:
                if send(self.port, "GET", "/health/ready", timeout=5).status == 200:
                    return time.monotonic() - self.started
            except OSError:
                pass
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
        return None

    def log_text(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as fh:
                return fh.read()
        except OSError:
            return ""

    def print_log_tail(self, lines: int = LOG_TAIL) -> None:
        text = self.log_text().rstrip("\n").splitlines()
        say(f"--- server log (last {min(lines, len(text))} of {len(text)} lines; full log: {self.log_path}) ---")
        for line in text[-lines:]:
            say(line)
        say("--- end of server log ---")

    def failure_reason(self) -> str | None:
        """The most telling line of the log: why init() or the import failed."""
        patterns = (r"The entry script cannot be served .*", r"init\(\) raised .*",
                    r"importing the entry script raised .*", r"Failed to import the entry script.*",
                    r"Encountered Exception .*", r"Entry script .* does not exist.*", r"did not finish .*",
                    r"CRITICAL.*|.* C \[\d+\] .*")
        text = self.log_text()
        for pattern in patterns:
            match = re.search(pattern, text)
            if match:
                return match.group(0).strip()
        return None

    def lost_port_race(self) -> bool:
        return self.proc.poll() is not None and "Address already in use" in self.log_text()

    def stop(self) -> None:
        stop_process_group(self.proc, grace_s=20)

    def remove_log(self) -> None:
        try:
            os.unlink(self.log_path)
        except OSError:
            pass


def run_make_model(script: str, timeout: float) -> bool:
    say(f"smoke: {MODEL_DIR}/ is missing: running {os.path.basename(script)} to build the model")
    started = time.monotonic()
    try:
        result = subprocess.run([sys.executable, script], check=False, cwd=os.path.dirname(script),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired:
        say(f"smoke: FAILED: {script} did not finish within {timeout:.0f} s")
        return False
    output = result.stdout.decode("utf-8", "replace").rstrip()
    if result.returncode != 0:
        say(output[-4000:])
        say(f"smoke: FAILED: {script} exited with status {result.returncode} (output above)")
        return False
    if output:
        say("  " + output.replace("\n", "\n  "))
    say(f"smoke: model built in {time.monotonic() - started:.2f} s")
    return True


def api_key() -> str | None:
    """The key the server will require (SCOREHOST_API_KEY or SCOREHOST_API_KEY_FILE), if any."""
    key = os.environ.get("SCOREHOST_API_KEY")
    if not key and os.environ.get("SCOREHOST_API_KEY_FILE"):
        try:
            with open(os.environ["SCOREHOST_API_KEY_FILE"], encoding="utf-8") as fh:
                key = fh.read().strip()
        except OSError:
            key = None  # the server refuses to start and says why
    return key or None


def swagger_example(port: int) -> list[SampleRequest] | None:
    try:
        key = api_key()
        answer = send(port, "GET", "/swagger.json?version=3", headers={"Authorization": f"Bearer {key}"} if key
                      else None, timeout=30)
        doc = json.loads(answer.body) if answer.status == 200 else None
    except (OSError, ValueError):
        return None
    try:
        example = doc["components"]["schemas"]["ServiceInput"]["example"]
    except (TypeError, KeyError):
        return None
    if example in (None, {}):  # an undecorated run() documents {} as its example: nothing to learn
        return None
    return [build_request(example, 1, ".")]


# ------------------------------------------------------------------ main

def smoke(args: argparse.Namespace) -> int:
    try:
        target = resolve_target(args)
        requests = load_requests(target.requests_file) if target.requests_file else None
    except UsageError as exc:
        say(f"smoke: error: {exc}")
        return EXIT_USAGE
    if args.timeout is None or args.timeout <= 0:
        say("smoke: error: --timeout must be a positive number of seconds")
        return EXIT_USAGE

    say(f"smoke: entry script {target.entry_script}")
    if target.make_model and not run_make_model(target.make_model, args.timeout):
        return EXIT_START
    if target.make_model:
        target.model_dir = os.path.join(target.folder, MODEL_DIR)
        if not os.path.isdir(target.model_dir):
            say(f"smoke: FAILED: {target.make_model} did not create {target.model_dir}")
            return EXIT_START
    say(f"smoke: model dir    {target.model_dir or '(none: AZUREML_MODEL_DIR is not set)'}")
    say(f"smoke: requests     {target.requests_file or 'the swagger example of run() (no ' + SAMPLE_REQUESTS + ')'}")

    servers: list[Server] = []
    ok = False
    previous = _on_sigterm_interrupt()
    try:
        server, ready = _boot(target, args.timeout, servers)
        if ready is None:
            code = server.proc.poll()
            if code is None:
                say(f"smoke: FAILED: the server was not ready within {args.timeout:.0f} s (--timeout)")
            else:
                say(f"smoke: FAILED: the server exited with status {code} before it was ready")
            server.stop()
            reason = server.failure_reason()
            server.print_log_tail()
            if reason:
                say(f"smoke: reason: {reason}")
            return EXIT_START
        say(f"smoke: ready in {ready:.2f} s")

        if requests is None:
            requests = swagger_example(server.port)
            if requests is None:
                say(f"smoke: error: nothing to post: add {SAMPLE_REQUESTS} beside the entry script (a JSON list of "
                    "request bodies), give --requests, or decorate run() with @input_schema so the swagger has an "
                    "example")
                return EXIT_USAGE
            say("smoke: posting the ServiceInput example of /swagger.json?version=3")

        key = api_key()
        if key:
            for req in requests:
                if not any(k.lower() == "authorization" for k in req.headers):
                    req.headers["Authorization"] = f"Bearer {key}"
        failed = 0
        total_ms = 0.0
        for i, req in enumerate(requests, 1):
            head = f"[{i}/{len(requests)}] {req.method} {req.path} {req.label}"
            try:
                answer = send(server.port, req.method, req.path, req.body, req.headers)
            except (OSError, http.client.HTTPException) as exc:
                failed += 1
                say(f"{head}: FAILED: no answer ({type(exc).__name__}: {exc})")
                continue
            total_ms += answer.ms
            problems = check(req, answer)
            verdict = "ok" if not problems else "FAILED: " + "; ".join(problems)
            say(f"{head} -> {answer.status} {answer.reason} in {answer.ms:.1f} ms: {verdict}")
            say("    " + preview(answer).replace("\n", "\n    "))
            failed += bool(problems)
        if failed:
            server.stop()
            server.print_log_tail()
            say(f"smoke: FAILED: {failed} of {len(requests)} requests failed (startup {ready:.2f} s)")
            return EXIT_FAILED
        say(f"smoke: OK: {len(requests)} of {len(requests)} requests succeeded "
            f"(startup {ready:.2f} s, requests {total_ms:.1f} ms in all)")
        ok = True
        return EXIT_OK
    except KeyboardInterrupt:
        say("smoke: interrupted: stopping the server")
        return 130
    finally:
        for server in servers:
            server.stop()
            if ok:
                server.remove_log()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _boot(target: Target, timeout: float, servers: list[Server]) -> tuple[Server, float | None]:
    """Start the server and wait for readiness, retrying when another process took the port."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        server = Server(target)
        servers.append(server)
        say(f"smoke: starting scorehost on 127.0.0.1:{server.port} (pid {server.proc.pid}) ...")
        ready = server.wait_ready(timeout)
        if ready is not None or attempt == PORT_ATTEMPTS or not server.lost_port_race():
            return server, ready
        server.stop()  # the free port was taken between our probe and the server's bind: retry
        server.remove_log()
    raise AssertionError("unreachable")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _on_sigterm_interrupt():
    """Let SIGTERM (a cancelled CI job) stop the server too: the server has its own session."""
    try:
        return signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread
        return None
