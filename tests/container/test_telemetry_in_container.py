"""App Insights from the image: items reach a loopback ingestion endpoint, and the exporter process
runs at the lowest CPU priority the container allows (scorehost.telemetry_exporter.lower_priority):
SCHED_IDLE under the engine's default seccomp profile, nice 19 where a profile denies
``sched_setscheduler``. The exporter is found and inspected from the host (/proc, as root)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from containerlib import FIXTURES
from telemetry.procs import parent_pid, wait_exporter
from telemetry.receivers import AppInsightsReceiver

DEFAULT_SECCOMP = Path("/usr/share/containers/seccomp.json")  # containers-common, podman's default


def _without_sched_setscheduler(folder: Path) -> Path:
    profile = json.loads(DEFAULT_SECCOMP.read_text())
    for rule in profile["syscalls"]:
        rule["names"] = [name for name in rule["names"] if name != "sched_setscheduler"]
    path = folder / "seccomp-no-sched_setscheduler.json"
    path.write_text(json.dumps(profile))
    return path


@pytest.fixture
def appinsights():
    receiver = AppInsightsReceiver()
    yield receiver
    receiver.close()


@pytest.mark.parametrize("profile", ["default", "no-sched_setscheduler"])
def test_app_insights_exporter_priority(engine, scorehost_image, serve, appinsights, tmp_path, profile):
    if os.geteuid() != 0:
        pytest.skip("reading another user's process scheduling from /proc needs root")
    run_args: tuple[str, ...] = ()
    if profile != "default":
        if not (engine.is_podman and DEFAULT_SECCOMP.exists()):
            pytest.skip(f"needs podman's default seccomp profile at {DEFAULT_SECCOMP}")
        run_args = ("--security-opt", f"seccomp={_without_sched_setscheduler(tmp_path)}")
    container = serve(scorehost_image, entry_script="echo_score.py", model=FIXTURES / "model", run_args=run_args,
                      env={"APPLICATIONINSIGHTS_CONNECTION_STRING": appinsights.connection_string(),
                           "SCOREHOST_TELEMETRY_EXPORT_INTERVAL_MS": "200"})
    arbiter = int(engine("inspect", "--format", "{{.State.Pid}}", container.name).stdout.strip())  # the image's PID 1
    pid = wait_exporter(arbiter)
    assert pid is not None, container.logs()

    for i in range(3):
        container.score_json({"x": i})
    items = appinsights.wait_for(lambda got: len(AppInsightsReceiver.of_type(got, "RequestData")) >= 3,
                                 timeout=20)
    assert len(AppInsightsReceiver.of_type(items, "RequestData")) == 3, container.logs()

    threads = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    policies = {os.sched_getscheduler(t) for t in threads}
    if profile == "default":
        assert policies == {os.SCHED_IDLE}
    else:  # sched_setscheduler is denied: the exporter falls back to nice 19 and still exports
        assert policies == {os.SCHED_OTHER}
        assert os.getpriority(os.PRIO_PROCESS, pid) == 19
    front = parent_pid(pid)
    assert os.sched_getscheduler(front) == os.SCHED_OTHER and os.getpriority(os.PRIO_PROCESS, front) == 0
