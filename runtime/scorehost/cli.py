"""The ``scorehost`` command.

``scorehost serve`` takes every azmlinfsrv flag with the same meaning (underscore or dash
spelling), so replacing ``azmlinfsrv`` with ``scorehost serve`` in a command line changes
nothing; with no flags it serves from the environment alone (Azure ML starts images that
way). Its flags are generated from the settings declarations, grouped as in
``docs/settings.md``.
"""
from __future__ import annotations

import argparse
import logging
import os
import re
from typing import Any

from . import settings as settings_mod
from ._version import __version__
from .settings import EXIT_CONFIG_ERROR, ConfigurationError, Settings

log = logging.getLogger("scorehost")


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    groups = {name: parser.add_argument_group(name) for name in settings_mod.GROUPS}
    for f in settings_mod.iter_cli_fields():
        env = " / ".join(f.metadata["env"])
        help_text = f.metadata["doc"] + (f" [env: {env}]" if env else "")
        kind = settings_mod.type_name(f)
        kwargs: dict[str, Any] = {"dest": f.name, "help": help_text, "default": None}
        if kind == "boolean":
            kwargs["action"] = "store_const"
            kwargs["const"] = True
        else:
            kwargs["metavar"] = f.metadata["metavar"] or kind.upper()
        groups[f.metadata["group"]].add_argument(*f.metadata["cli"], **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scorehost",
        description=f"scorehost {__version__}: serve an Azure ML entry script (init()/run()) over HTTP. "
                    "A drop-in for azmlinfsrv: `scorehost serve` takes the same flags and environment.")
    parser.add_argument("--version", action="version", version=f"scorehost {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser(
        "serve", help="serve an entry script (azmlinfsrv's command line)",
        description="Serve an entry script. Every flag also has an environment variable (shown in brackets); "
                    "precedence: flag > environment > config file > default. "
                    "All settings: `scorehost settings`.")
    _add_setting_flags(serve)
    # azmlinfsrv's hidden transport switch (REST is the only transport): accepted, ignored
    serve.add_argument("--rest", action="store_true", help=argparse.SUPPRESS)

    show = sub.add_parser("settings", help="list every setting (environment variables, flags, defaults)")
    show.add_argument("--markdown", action="store_true", help="print the reference table (docs/settings.md)")

    smoke = sub.add_parser("smoke", help="boot a sample on a free loopback port and post its sample requests")
    smoke.add_argument("path", nargs="?", help="a folder with score.py (and sample-requests.json)")
    smoke.add_argument("--entry_script", "--entry-script", dest="entry_script")
    smoke.add_argument("--model_dir", "--model-dir", dest="model_dir")
    smoke.add_argument("--requests", help="a JSON file with a list of request bodies")
    smoke.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for readiness (default 180)")
    return parser


def _check_app_insights(s: Settings) -> Settings:
    """azmlinfsrv disables App Insights when the instrumentation key is not a UUID."""
    if s.app_insights_enabled and s.app_insights_key and not re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", s.app_insights_key, re.I):
        log.warning("Invalid Application Insights instrumentation key provided; Application Insights is disabled.")
        import dataclasses
        return dataclasses.replace(s, app_insights_enabled=False)
    return s


def runner_environment(s: Settings, extra_paths: list[str]) -> dict[str, str]:
    """The environment of runner processes: ours, plus the variables azmlinfsrv exported for
    scripts to read (AZUREML_MODEL_DIR, AML_APP_ROOT, ...), minus scorehost's secrets."""
    env = dict(os.environ)
    env.pop("SCOREHOST_API_KEY", None)
    exports = {
        "AML_APP_ROOT": s.app_root,
        "AZUREML_MODEL_DIR": s.model_dir,
        "AZUREML_ENTRY_SCRIPT": s.entry_script,
        "AZUREML_CONFIG_FILE": s.config_file,
        "WORKER_COUNT": str(s.worker_count),
        "SERVER_PORT": str(s.port),
        "HEALTH_PORT": str(s.health_port if s.health_listener else s.port),
        "AML_APP_INSIGHTS_ENABLED": "true" if s.app_insights_enabled else "false",
        "HTTP_X_MS_SERVER_VERSION": s.server_version_header,
        "SCOREHOST_DATA_COLLECTION_DIR": s.data_collection_dir,
        "SCOREHOST_DATA_COLLECTION_MAX_BYTES": str(s.data_collection_max_bytes),
    }
    env.update({k: v for k, v in exports.items() if v is not None})
    if extra_paths:
        env["PYTHONPATH"] = os.pathsep.join(extra_paths + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def runner_config(s: Settings) -> dict[str, Any]:
    return {
        "entry_script": s.entry_script,
        "app_root": s.app_root,
        "source_dir": s.source_dir,
        "log_level": s.log_level,
        "log_format": s.log_format,
        "concurrency": s.runner_concurrency,
        "debug": s.debug,
        "debug_port": s.debug_port,
    }


def print_banner(s: Settings, loaded: settings_mod.Loaded) -> None:
    print()
    print(f"scorehost v{__version__} (azmlinfsrv-compatible scoring server)")
    print()
    print("Server Settings")
    print("---------------")
    shown = s.redacted()
    for f in settings_mod.declarations():
        if loaded.sources.get(f.name, "default") != "default" or f.name in (
                "entry_script", "model_dir", "app_root", "worker_count", "port", "scoring_timeout_ms"):
            print(f"{f.metadata['env'][0] if f.metadata['env'] else f.name}: {shown[f.name]}")
    if loaded.config_file:
        print(f"Config File: {loaded.config_file}")
    print()
    print("Server Routes")
    print("---------------")
    health = s.health_port if s.health_listener else s.port
    print(f"Liveness Probe: GET   127.0.0.1:{health}/health/live")
    print(f"Readiness:      GET   127.0.0.1:{health}/health/ready  (and GET / as in azmlinfsrv)")
    print(f"Score:          POST  127.0.0.1:{s.port}/score")
    print(f"Swagger:        GET   127.0.0.1:{s.port}/swagger.json")
    if s.metrics_enabled:
        print(f"Metrics:        GET   127.0.0.1:{health}/metrics")
    print(flush=True)


def serve(args: argparse.Namespace) -> int:
    from . import logs

    cli_values = {f.name: getattr(args, f.name, None) for f in settings_mod.iter_cli_fields()}
    logs.configure("INFO", os.environ.get("SCOREHOST_LOG_FORMAT", "text"))
    try:
        loaded = settings_mod.load(cli_values)
    except ConfigurationError as exc:
        log.critical(exc.banner())
        return EXIT_CONFIG_ERROR
    s = _check_app_insights(loaded.settings)
    logs.configure(s.log_level, s.log_format)
    logging_config = logs.find_user_config(s.app_root, s.entry_script)
    try:
        logs.apply_user_config(logging_config)
    except logs.LoggingConfigError as exc:
        log.critical("%s", exc)
        return EXIT_CONFIG_ERROR
    if loaded.unknown_config_keys:
        log.warning("Found keys in the config file %s that scorehost does not read: %s", loaded.config_file,
                    loaded.unknown_config_keys)
    if s.model_dir is None:
        log.warning("AZUREML_MODEL_DIR is not set (use --model_dir to set it).")
    if s.worker_preload:
        log.info("WORKER_PRELOAD has no effect: runners are separate interpreters started before serving.")
    if s.entry_script:
        path = os.path.join(s.app_root, s.entry_script)
        if not os.path.isfile(path):
            log.critical("Entry script %s does not exist. Expected a Python file with init() and run() "
                         "(--entry_script / AZUREML_ENTRY_SCRIPT; relative paths are resolved against the app "
                         "root %s).", path, s.app_root)
            return EXIT_CONFIG_ERROR
    if s.api_key_file and not s.api_key:
        try:
            if s.resolved_api_key() is None:
                raise OSError("the file is empty")
        except OSError as exc:
            log.critical("Cannot read the API key file %s (SCOREHOST_API_KEY_FILE): %s", s.api_key_file, exc)
            return EXIT_CONFIG_ERROR

    extra_paths: list[str] = []
    if s.extra_requirements_txt:
        from .extra_requirements import ExtraRequirementsError, install_extra_requirements
        try:
            target = install_extra_requirements(s.extra_requirements_txt, log=log, app_root=s.app_root)
        except ExtraRequirementsError as exc:
            log.critical("%s", exc)
            return EXIT_CONFIG_ERROR
        if target:
            extra_paths.append(target)

    print_banner(s, loaded)
    from .server import serve as run_server
    return run_server(s, runner_environment(s, extra_paths), dict(runner_config(s), logging_config=logging_config))


def show_settings(args: argparse.Namespace) -> int:
    if args.markdown:
        print(settings_mod.markdown_reference())
        return 0
    for f in settings_mod.declarations():
        envs = " / ".join(f.metadata["env"])
        flags = ", ".join(f.metadata["cli"])
        print(f"{envs:40} {settings_mod.type_name(f):8} default={f.default!r}" + (f"  [{flags}]" if flags else ""))
        print(f"    {f.metadata['doc']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "settings":
        return show_settings(args)
    if args.command == "smoke":
        from .smoke import smoke
        return smoke(args)
    parser.print_help()
    return 2
