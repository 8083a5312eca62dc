"""Shared setup for the container tests.

- ``engine``: podman (preferred) or docker; every test here is skipped, with the
  reason, only where neither is installed (or docker has no engine behind it).
- ``scorehost_image``: the repo's Dockerfile, built once per session (or the
  image named by ``SCOREHOST_TEST_IMAGE``, to test a prebuilt one).
- ``build_image``: builds further images (variants, derived images) once per
  session, removed at the end.
- ``serve``: starts a container on the host network, bound to 127.0.0.1 on a
  free port, and removes it after the test.

Builds use ``--pull=never`` with podman: every ``FROM`` must resolve to a local
image (``tests/container/setup-podman.sh`` makes the Debian base). The host's CA
bundle is passed as the build secret ``cacert`` and an http(s) pip index of
the host, if configured, as build arguments, so pip inside the build reaches the
same index as pip on the host.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable, Iterator, Optional

import pytest

from containerlib import (
    APP_ROOT,
    BASE_IMAGE,
    FIXTURES,
    MEASUREMENTS,
    MODELS_ROOT,
    READY_TIMEOUT,
    REPO,
    Container,
    Engine,
    find_engine,
    free_port,
)

RUN_ID = uuid.uuid4().hex[:8]


def pytest_terminal_summary(terminalreporter):
    if MEASUREMENTS:
        terminalreporter.section("container measurements")
        for key, value in MEASUREMENTS.items():
            terminalreporter.write_line(f"{key}: {value}")


# --------------------------------------------------------------------------- engine


@pytest.fixture(scope="session")
def engine() -> Engine:
    found, reason = find_engine()
    if found is None:
        pytest.skip(f"container tests need podman or docker: {reason}")
    return found


# --------------------------------------------------------------------------- images


def image_tag(name: str) -> str:
    return f"localhost/scorehost-test-{name}:{RUN_ID}"


@pytest.fixture(scope="session")
def build_image(engine: Engine) -> Iterator[Callable[..., str]]:
    """build_image(name, context, **kw) -> tag: builds once per session, removed at the end."""
    built: dict[str, str] = {}

    def _build(name: str, context: Path, **kwargs) -> str:
        if name not in built:
            tag = image_tag(name)
            seconds = engine.build(tag, context, **kwargs)
            built[name] = tag
            MEASUREMENTS[f"image {name}"] = (
                f"built in {seconds:.0f} s, {engine.image_size_mb(tag):.0f} MB"
            )
        return built[name]

    yield _build
    for tag in built.values():
        engine.remove_image(tag)


@pytest.fixture(scope="session")
def scorehost_image(engine: Engine, build_image) -> str:
    """The default image, built from the repo's Dockerfile."""
    prebuilt = os.environ.get("SCOREHOST_TEST_IMAGE")
    if prebuilt:
        assert engine.image_exists(prebuilt), f"SCOREHOST_TEST_IMAGE={prebuilt} does not exist"
        return prebuilt
    if engine.is_podman and not engine.image_exists(BASE_IMAGE):
        pytest.fail(
            f"base image {BASE_IMAGE} is missing and builds do not pull: "
            "run tests/container/setup-podman.sh (or base-images/make-base.sh) as root"
        )
    return build_image("default", REPO, dockerfile=REPO / "Dockerfile")


# --------------------------------------------------------------------------- containers


@pytest.fixture
def serve(engine: Engine) -> Iterator[Callable[..., Container]]:
    """serve(image, entry_script=, model=, ...) -> Container, ready unless wait_ready=False.

    entry_script: a file name under fixtures/ (mounted into the app root), or
    None when the image has its own. model: a host directory mounted as
    azureml-models/<model_name>/1, which AZUREML_MODEL_DIR then names.
    Containers are not started with --rm, so that their logs and exit code
    outlive them; they are removed after the test.
    """
    started: list[Container] = []

    def _serve(image: str, *, entry_script: Optional[str] = None, model: Optional[Path] = None,
               model_name: str = "model", env: Optional[dict[str, str]] = None,
               run_args: tuple[str, ...] = (), wait_ready: bool = True,
               ready_timeout: float = READY_TIMEOUT) -> Container:
        name = f"scorehost-test-{RUN_ID}-{len(started)}-{uuid.uuid4().hex[:4]}"
        port = free_port()
        args = ["run", "-d", "--name", name, "--network", "host",
                "-e", f"SERVER_PORT={port}", "-e", "SCOREHOST_HOST=127.0.0.1"]
        if engine.is_podman:
            args.append("--pull=never")
        if entry_script is not None:
            args += ["-v", f"{FIXTURES / entry_script}:{APP_ROOT}/{entry_script}:ro",
                     "-e", f"AZUREML_ENTRY_SCRIPT={entry_script}"]
        if model is not None:
            model_dir = f"{MODELS_ROOT}/{model_name}/1"
            args += ["-v", f"{model}:{model_dir}:ro", "-e", f"AZUREML_MODEL_DIR={model_dir}"]
        for key, value in (env or {}).items():
            args += ["-e", f"{key}={value}"]
        container = Container(engine, name, port)
        started.append(container)  # before `run`: removed even if it fails half-way
        engine(*args, *run_args, image)
        if wait_ready:
            seconds = container.wait_for("/health/ready", timeout=ready_timeout)
            short = image.rsplit("/", 1)[-1].split(":")[0]
            MEASUREMENTS.setdefault(f"cold start (run -> ready) {short}", f"{seconds:.1f} s")
        return container

    yield _serve
    for container in started:
        engine.remove_container(container.name)


@pytest.fixture
def world_readable_tmp(tmp_path: Path) -> Path:
    """tmp_path readable by the container's non-root user (it is 0700 by default)."""
    tmp_path.chmod(0o755)
    return tmp_path
