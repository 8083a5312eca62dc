"""Install ``AZUREML_EXTRA_REQUIREMENTS_TXT`` at server start.

Azure ML lets a deployment name a requirements file that the inference server
pip-installs when the container starts, before the entry script is loaded.
:func:`install_extra_requirements` does that with ``python -m pip`` of the
running interpreter.

Where the interpreter's site-packages cannot be written (a ``--read-only``
root file system, or an arbitrary UID without write access to the
environment), the packages go to :data:`EXTRA_PACKAGES_DIR` with ``pip
--target`` instead, and that directory is returned: the caller puts it first on
``sys.path`` and ``PYTHONPATH`` so the runner processes import from it.

Standard library only: this runs before the HTTP front is imported.
"""
from __future__ import annotations

import collections
import logging
import os
import subprocess
import sys
import sysconfig
import tempfile
import threading
from typing import Callable, Optional, Union

__all__ = [
    "DEFAULT_APP_ROOT",
    "DEFAULT_TIMEOUT",
    "EXTRA_PACKAGES_DIR",
    "ExtraRequirementsError",
    "install_extra_requirements",
    "resolve_requirements_path",
]

#: Where packages go when site-packages is not writable.
EXTRA_PACKAGES_DIR = "/tmp/scorehost-extra-packages"
#: Base for a relative requirements path when ``AML_APP_ROOT`` is unset.
DEFAULT_APP_ROOT = "/var/azureml-app"
#: Seconds pip may take before it is stopped and the start fails.
DEFAULT_TIMEOUT = 1800.0

_TAIL_LINES = 25

#: A logger (its ``info`` is used) or any callable taking one line of text.
LogTarget = Union[logging.Logger, Callable[[str], None]]


class ExtraRequirementsError(RuntimeError):
    """The extra requirements could not be installed; the server must not start.

    ``str(error)`` is a complete message for the log: which file, pip's exit
    code and the last lines of pip's output.
    """


def resolve_requirements_path(path: str, app_root: Optional[str] = None) -> str:
    """Return *path* made absolute; a relative one is taken from the app root.

    The app root is *app_root*, else ``$AML_APP_ROOT``, else ``/var/azureml-app``.
    """
    path = os.path.expanduser(path.strip())
    if not os.path.isabs(path):
        root = app_root or os.environ.get("AML_APP_ROOT") or DEFAULT_APP_ROOT
        path = os.path.join(root, path)
    return os.path.normpath(path)


def _dir_writable(path: str) -> bool:
    """True if a file can really be created in *path*.

    ``os.access`` is not enough: it trusts the mode bits where a read-only
    mount or a user namespace says otherwise.
    """
    try:
        fd, probe = tempfile.mkstemp(prefix=".scorehost-probe-", dir=path)
    except OSError:
        return False
    os.close(fd)
    try:
        os.unlink(probe)
    except OSError:
        pass
    return True


def _environment_writable() -> bool:
    """True if pip can install into the running interpreter's environment."""
    paths = sysconfig.get_paths()
    dirs = {paths[key] for key in ("purelib", "platlib", "scripts") if paths.get(key)}
    return all(os.path.isdir(d) and _dir_writable(d) for d in dirs)


def install_extra_requirements(
    path: str,
    *,
    log: LogTarget,
    app_root: Optional[str] = None,
    target_dir: str = EXTRA_PACKAGES_DIR,
    timeout: Optional[float] = DEFAULT_TIMEOUT,
) -> Optional[str]:
    """pip-install the requirements file *path* for the entry script.

    *path* is ``AZUREML_EXTRA_REQUIREMENTS_TXT``: absolute, or relative to
    *app_root* (default ``$AML_APP_ROOT``). *log* (a :class:`logging.Logger`,
    or a callable taking a string) receives one line at a time: what is
    installed where, then pip's output as it runs.

    Returns ``None`` when the packages went into the interpreter's own
    site-packages, or *target_dir* when that was not writable and they were
    installed there with ``pip --target``; the caller must then put
    *target_dir* first on ``sys.path`` and ``PYTHONPATH`` (for the runners).

    Raises :class:`ExtraRequirementsError` when the file is missing, pip is
    missing, pip fails or pip runs longer than *timeout* seconds.
    """
    emit: Callable[[str], None] = log.info if isinstance(log, logging.Logger) else log
    requirements = resolve_requirements_path(path, app_root)
    if not os.path.isfile(requirements):
        raise ExtraRequirementsError(
            f"extra requirements file {requirements} (AZUREML_EXTRA_REQUIREMENTS_TXT={path!r}) "
            "does not exist or is not a file"
        )

    cmd = [
        sys.executable, "-m", "pip", "install",
        "--no-input", "--disable-pip-version-check", "--no-warn-script-location",
        "--requirement", requirements,
    ]
    if _environment_writable():
        target: Optional[str] = None
        emit(f"installing extra requirements from {requirements} into {sys.prefix}")
    else:
        target = target_dir
        try:
            os.makedirs(target, exist_ok=True)
        except OSError as exc:
            raise ExtraRequirementsError(
                f"cannot install extra requirements from {requirements}: site-packages of "
                f"{sys.prefix} is not writable and neither is {target} ({exc})"
            ) from exc
        # --upgrade replaces what an earlier start of the same container left there.
        cmd += ["--target", target, "--upgrade"]
        emit(
            f"installing extra requirements from {requirements} into {target} "
            f"(site-packages of {sys.prefix} is not writable)"
        )

    env = dict(os.environ, PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    returncode, tail, timed_out = _run_streaming(cmd, env=env, log=emit, timeout=timeout)

    if timed_out:
        raise ExtraRequirementsError(
            f"installing extra requirements from {requirements} took longer than "
            f"{timeout:g} s; pip was stopped. Last lines of pip's output:\n{tail}"
        )
    if returncode != 0:
        hint = ""
        if "No module named pip" in tail:
            hint = f" (pip is not installed for {sys.executable}; this image cannot install extra requirements)"
        raise ExtraRequirementsError(
            f"installing extra requirements from {requirements} failed: pip exited with "
            f"code {returncode}{hint}. Last lines of pip's output:\n{tail}"
        )
    emit(f"extra requirements from {requirements} installed")
    return target


def _run_streaming(
    cmd: list[str],
    *,
    env: dict[str, str],
    log: Callable[[str], None],
    timeout: Optional[float],
) -> tuple[int, str, bool]:
    """Run *cmd*, passing each output line to *log*.

    Returns (exit code, last lines of output, whether it was killed for *timeout*).
    """
    tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
            errors="replace",
        )
    except OSError as exc:
        return 127, f"{cmd[0]}: {exc}", False

    timed_out = threading.Event()

    def _kill() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout, _kill) if timeout else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        assert proc.stdout is not None
        with proc.stdout:
            for line in proc.stdout:
                line = line.rstrip()
                if line:
                    tail.append(line)
                    log(f"pip: {line}")
        returncode = proc.wait()
    finally:
        if timer is not None:
            timer.cancel()
        if proc.poll() is None:  # only if reading failed: never leave pip behind
            proc.kill()
            proc.wait()
    return returncode, "\n".join(tail) or "(pip printed nothing)", timed_out.is_set()
