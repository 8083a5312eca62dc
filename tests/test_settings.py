"""Settings: declared once; precedence CLI > env > config file; azmlinfsrv's validation."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from scorehost import settings

ROOT = Path(__file__).resolve().parent.parent


def test_precedence_cli_over_env_over_config_file(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"SCORING_TIMEOUT_MS": 111, "SERVICE_NAME": "from-file"}))
    env = {"SCORING_TIMEOUT_MS": "222"}
    loaded = settings.load({}, env, cwd=str(tmp_path))
    assert loaded.settings.scoring_timeout_ms == 222
    assert loaded.settings.service_name == "from-file"
    assert loaded.config_file == str(tmp_path / "config.json")
    loaded = settings.load({"worker_count": "3"}, {"WORKER_COUNT": "2"}, cwd=str(tmp_path))
    assert loaded.settings.worker_count == 3


def test_both_model_data_collection_spellings(tmp_path):
    for name in ("AML_MDC_STORAGE_ENABLED", "AML_MODEL_DC_STORAGE_ENABLED"):
        assert settings.load({}, {name: "true"}, cwd=str(tmp_path)).settings.model_data_collection is True


def test_invalid_values_are_all_reported_with_their_source(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"SCORING_TIMEOUT_MS": "soon"}))
    with pytest.raises(settings.ConfigurationError) as info:
        settings.load({"port": "70000"}, {"WORKER_COUNT": "zero"}, cwd=str(tmp_path))
    banner = info.value.banner()
    assert "Configuration Error" in banner
    assert "SCORING_TIMEOUT_MS" in banner and "config file" in banner
    assert "WORKER_COUNT" in banner and "environment variable" in banner
    assert "SERVER_PORT" in banner and "70000" in banner


def test_unknown_config_keys_are_reported_not_applied(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"WORKER_COUNT": 4, "SERVICE_NAME": "x"}))
    loaded = settings.load({}, {}, cwd=str(tmp_path))
    assert loaded.settings.worker_count == 1  # azmlinfsrv does not read WORKER_COUNT from the file
    assert loaded.unknown_config_keys == ["WORKER_COUNT"]


def test_settings_reference_doc_is_generated_from_the_declarations():
    doc = (ROOT / "docs" / "settings.md").read_text()
    assert doc.strip() == settings.markdown_reference().strip(), (
        "docs/settings.md is stale: regenerate it with `scorehost settings --markdown > docs/settings.md`")


def test_invalid_config_exits_3_with_banner(tmp_path):
    (tmp_path / "score.py").write_text("def init(): pass\ndef run(d): return d\n")
    (tmp_path / "config.json").write_text(json.dumps({"SCORING_TIMEOUT_MS": "soon-ish"}))
    proc = subprocess.run([sys.executable, "-m", "scorehost", "serve", "--entry_script", "score.py",
                           "--port", "1"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert "Configuration Error" in proc.stdout + proc.stderr
    assert "SCORING_TIMEOUT_MS" in proc.stdout + proc.stderr


def test_help_lists_every_azmlinfsrv_flag_in_both_spellings():
    out = subprocess.run([sys.executable, "-m", "scorehost", "serve", "--help"], capture_output=True,
                         text=True, timeout=60).stdout
    for flag in ("entry_script", "model_dir", "port", "health_port", "worker_count",
                 "appinsights_instrumentation_key", "access_control_allow_origins", "config_file"):
        assert f"--{flag}" in out
        if "_" in flag:
            assert "--" + flag.replace("_", "-") in out
