"""The HTTP front never imports the entry script or its dependencies; runners do."""
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _loaded_modules(pid: int) -> str:
    """Files mapped or opened by a process (Python source imports show up as open/mapped .py/.pyc)."""
    maps = Path(f"/proc/{pid}/maps").read_text(errors="replace")
    return maps


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def test_front_never_imports_the_entry_script(serve, tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    (app / "score.py").write_text((FIXTURES / "import_marker.py").read_text())
    # numpy stands in for a heavy dependency: the front must not import it either
    (app / "marker_dependency.py").write_text("import numpy\nVALUE = 'from-runner'\n")
    server = serve(app / "score.py", env={"AML_APP_ROOT": str(app)})
    assert server.score({"x": 1}).json() == {"marker": "from-runner"}

    arbiter = server.proc.pid
    (front,) = _children(arbiter)
    runners = _children(front)
    assert len(runners) == 1

    # Ask each process, through /proc, which Python modules it imported: a process that
    # imported numpy has numpy's shared objects mapped.
    assert "numpy" not in _loaded_modules(arbiter)
    assert "numpy" not in _loaded_modules(front)
    assert "numpy" in _loaded_modules(runners[0])
    # and the front's command line is the server's, the runner's is the runner module
    assert b"scorehost.runner" in Path(f"/proc/{runners[0]}/cmdline").read_bytes()
    assert b"scorehost.runner" not in Path(f"/proc/{front}/cmdline").read_bytes()
