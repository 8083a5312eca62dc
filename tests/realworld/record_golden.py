"""Record what azmlinfsrv (azureml-inference-server-http 1.5.1) answers for the real-world scripts.

For every case in rw_cases.py: build its model into a fresh temporary folder, start
``azmlinfsrv --entry_script scripts/<case>/score.py --model_dir <model dir> --port P`` with that
folder as the working directory (= AML_APP_ROOT, where azureml-core's Model.get_model_path looks
for ``azureml-models/``), wait until ``GET /`` answers 200 (or the process exits), send the case's
requests to 127.0.0.1 only, normalise each response (rw_cases.normalise) and write golden.json.

Re-record (after changing rw_cases.py or a script):

    # the reference venv: the server plus every script's dependencies
    python3 -m venv /work/venvs/azml
    /work/venvs/azml/bin/pip install azureml-inference-server-http==1.5.1 \\
        scikit-learn joblib onnx onnxruntime pillow pandas azureml-core azureml-monitoring
    # run with a Python that has scikit-learn, joblib, onnx and Pillow (it builds the models)
    python tests/realworld/record_golden.py --venv /work/venvs/azml [--case NAME ...]

``--case`` re-records only those cases and keeps the others from the existing golden.json.
azmlinfsrv binds 0.0.0.0 (it has no host flag); requests go to 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rw_cases  # noqa: E402

START_TIMEOUT = 90.0
REQUEST_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def send(port: int, method: str, path: str, body: bytes | None, headers: dict, timeout: float = REQUEST_TIMEOUT):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def clean_env(extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AZUREML_", "AML_", "SCORING_", "SCOREHOST_", "WORKER_", "SERVICE_"))}
    env.update({"PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def stop(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=wait)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass


def record_case(case: rw_cases.Case, venv: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"rw-{case.name}-") as tmp:
        root = Path(tmp)
        model_dir = case.build_model(root)
        port = free_port()
        argv = [str(venv / "bin" / "azmlinfsrv"), "--entry_script", str(case.script), "--port", str(port)]
        if model_dir is not None:
            argv += ["--model_dir", str(model_dir)]
        log_path = root / "server.log"
        env = clean_env({"HOME": str(root), "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"})
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(argv, cwd=str(root), env=env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            ready = False
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    if send(port, "GET", "/", None, {}, timeout=2)[0] == 200:
                        ready = True
                        break
                except OSError:
                    pass
                time.sleep(0.2)
            entry: dict = {"startup": "ready" if ready else "exit"}
            if not ready:
                try:
                    code = proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    code = None
                log_text = log_path.read_text(errors="replace")
                entry["exit_code"] = code
                entry["log_has"] = {p: p in log_text for p in case.log_phrases}
                print(f"  {case.name}: did not start (exit {code})\n" + log_text[-1500:], file=sys.stderr)
                return entry
            answers = {}
            for req in case.requests:
                body, headers = req.build()
                status, resp_headers, data = send(port, req.method, req.path, body, headers)
                answers[req.id] = rw_cases.normalise(status, resp_headers, data, req.id)
                print(f"  {case.name}.{req.id}: {status}")
            entry["responses"] = answers
            return entry
        finally:
            stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv", default="/work/venvs/azml", help="venv holding azmlinfsrv 1.5.1 and the scripts' deps")
    parser.add_argument("--case", action="append", help="record only this case (repeatable)")
    parser.add_argument("--out", default=str(rw_cases.GOLDEN))
    args = parser.parse_args()
    venv = Path(args.venv)
    version = subprocess.run([str(venv / "bin" / "python"), "-c",
                              "import importlib.metadata as m; print(m.version('azureml-inference-server-http'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    out = Path(args.out)
    golden = json.loads(out.read_text()) if (args.case and out.exists()) else {}
    golden.setdefault("cases", {})
    golden["about"] = ("Normalised answers of azmlinfsrv (azureml-inference-server-http "
                       f"{version}) for tests/realworld; written by record_golden.py, see its docstring.")
    golden["reference_server"] = f"azureml-inference-server-http {version}"
    for case in rw_cases.CASES:
        if args.case and case.name not in args.case:
            continue
        print(f"recording {case.name}")
        golden["cases"][case.name] = record_case(case, venv)
    golden["cases"] = {name: golden["cases"][name] for name in sorted(golden["cases"])}
    out.write_text(json.dumps(golden, indent=1, sort_keys=False, ensure_ascii=False) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
