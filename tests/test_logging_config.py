"""A ``logging.json`` in the app root (else next to the entry script) configures logging, as in
azmlinfsrv: print() lines (logger ``azmlinfsrv.print``, a child of ``azmlinfsrv``) and user
logging take its formatters and handlers, including azmlinfsrv's own
``azureml_inference_server_http.log_config.AMLLogFormatter``; scorehost's own lines keep
going out. A file that cannot be used stops the server at start with its path and line."""
import shutil

from serverlib import FIXTURES

APP = FIXTURES / "logging_config"


def _serve_with(serve, app_root, logging_json: str, ready: bool = True):
    """Serve the fixture's score.py from ``app_root`` with this logging.json next to it."""
    shutil.copy(APP / "score.py", app_root / "score.py")
    (app_root / "logging.json").write_text(logging_json)
    return serve(None, env={"AML_APP_ROOT": str(app_root), "AZUREML_ENTRY_SCRIPT": "score.py"}, ready=ready)


def _score_and_log(server) -> str:
    assert server.score({"x": 1}).status == 200
    server.stop()
    return server.log()


def test_logging_json_in_the_app_root_formats_print_and_logging_lines(serve):
    server = serve(None, env={"AML_APP_ROOT": str(APP), "AZUREML_ENTRY_SCRIPT": "score.py"})
    log = _score_and_log(server)
    assert "CUSTOM|INFO|azmlinfsrv.print|printed-in-run" in log
    assert "CUSTOM|WARNING|user.model|logged-in-run" in log
    assert f"Loaded logging config from {APP / 'logging.json'}" in log
    assert "scorehost.access - POST /score 200" in log  # the server's own lines are not silenced


def test_logging_json_next_to_the_entry_script_is_used_when_the_app_root_has_none(serve, tmp_path):
    scripts = tmp_path / "src"
    scripts.mkdir()
    for name in ("score.py", "logging.json"):
        shutil.copy(APP / name, scripts / name)
    (tmp_path / "root").mkdir()
    server = serve(scripts / "score.py", env={"AML_APP_ROOT": str(tmp_path / "root")})
    assert "CUSTOM|INFO|azmlinfsrv.print|printed-in-run" in _score_and_log(server)


def test_a_broken_logging_json_stops_the_server_naming_the_file_and_line(serve, tmp_path):
    server = _serve_with(serve, tmp_path, '{\n  "version": 1,\n  "loggers": {"azmlinfsrv": {"level": "INFO",}}\n}\n',
                         ready=False)
    assert server.wait_exit(60) == 3
    log = server.log()
    assert str(tmp_path / "logging.json") in log and "line 3" in log
    assert "Traceback" not in log


def test_a_logging_json_naming_a_missing_class_stops_the_server_with_a_clear_message(serve, tmp_path):
    server = _serve_with(serve, tmp_path, '{"version": 1, "handlers": {"h": {"class": "no_such_module.Handler"}},'
                                          ' "root": {"handlers": ["h"]}}', ready=False)
    assert server.wait_exit(60) == 3
    log = server.log()
    assert "logging.json" in log and "no_such_module" in log
    assert "Traceback" not in log


def test_a_logging_json_configuring_only_the_root_logger_keeps_print_lines(serve, tmp_path):
    server = _serve_with(serve, tmp_path,
                         '{"version": 1, "formatters": {"f": {"format": "ROOT|%(name)s|%(message)s"}},'
                         ' "handlers": {"h": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout",'
                         ' "formatter": "f"}}, "root": {"level": "INFO", "handlers": ["h"]}}')
    log = _score_and_log(server)
    assert "azmlinfsrv.print - printed-in-run" in log  # disable_existing_loggers (default true) did not mute it
    assert "ROOT|user.model|logged-in-run" in log
