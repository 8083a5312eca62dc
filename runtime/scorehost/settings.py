"""Every setting scorehost reads, declared once.

Each field of :class:`Settings` carries its type (the annotation), its default, the
environment variable(s), command-line flags and config-file key that set it, a group and
a line of documentation. The CLI parser, the loader, the startup banner and the reference
table in ``docs/settings.md`` (``scorehost settings --markdown``) are all generated from
these declarations.

Precedence is azmlinfsrv's: command line > environment > config file > default.
The config file is ``--config_file`` / ``AZUREML_CONFIG_FILE``, else ``config.json`` in the
app root, else ``config.json`` beside the entry script. Its keys are the environment
variable names (``{"SCORING_TIMEOUT_MS": 500}``); like azmlinfsrv, only the keys azmlinfsrv
read from it, plus our ``SCOREHOST_*`` keys, are honoured, others are logged as unknown.

A value of the wrong type is a configuration error: every error is reported in one
"Configuration Error" banner naming the setting and where the value came from, and the
process exits with status 3 (azmlinfsrv's boot-error code).
"""
from __future__ import annotations

import dataclasses
import json
import os
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

#: exit status for configuration and start-up errors (gunicorn's and azmlinfsrv's boot error)
EXIT_CONFIG_ERROR = 3

GROUPS = (
    "Entry script and model",
    "HTTP server",
    "Runners and timeouts",
    "Limits and backpressure",
    "Security",
    "Swagger and service identity",
    "Logging and telemetry",
)

_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off", ""}


def setting(default: Any, *, env: str | tuple[str, ...] = (), cli: tuple[str, ...] = (),
            config: bool = False, group: str, doc: str, check: Callable[[Any], str | None] | None = None,
            secret: bool = False, metavar: str | None = None, anchor: bool = False) -> Any:
    """Declare one setting (a dataclass field with its metadata)."""
    envs = (env,) if isinstance(env, str) else tuple(env)
    assert group in GROUPS, group
    return field(default=default, metadata={
        "env": envs, "cli": cli, "config": config, "group": group, "doc": doc,
        "check": check, "secret": secret, "metavar": metavar, "anchor": anchor,
    })


def _port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else "must be a port number between 1 and 65535"


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be greater than zero"


def _not_negative(value: float) -> str | None:
    return None if value >= 0 else "must not be negative"


def _one_of(*choices: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value in choices else "must be one of: " + ", ".join(choices)
    return check


def _log_level(value: str) -> str | None:
    return _one_of("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")(value.upper())


def _sample_rate(value: float) -> str | None:
    return None if 0.0 <= value <= 1.0 else "must be between 0.0 and 1.0"


@dataclass(frozen=True)
class Settings:
    # --- entry script and model -------------------------------------------------------
    entry_script: str | None = setting(
        None, env="AZUREML_ENTRY_SCRIPT", cli=("--entry_script", "--entry-script"), config=True, anchor=True,
        group="Entry script and model", metavar="PATH",
        doc="The scoring script (init()/run()). Relative paths are resolved against the app root; "
            "on the command line, against the current directory. Without one, main.py is imported "
            "from the app root.")
    model_dir: str | None = setting(
        None, env="AZUREML_MODEL_DIR", cli=("--model_dir", "--model-dir"), config=True, anchor=True,
        group="Entry script and model", metavar="DIR",
        doc="The model folder, exported to the script as AZUREML_MODEL_DIR.")
    app_root: str | None = setting(
        None, env="AML_APP_ROOT", anchor=True, group="Entry script and model", metavar="DIR",
        doc="The app folder: put on sys.path, searched for main.py, config.json, swagger*.json and "
            "logging.json. Default: the current directory (the container image sets /var/azureml-app).")
    source_dir: str | None = setting(
        None, env="AZUREML_SOURCE_DIRECTORY", config=True, anchor=True, group="Entry script and model",
        metavar="DIR", doc="A folder (relative to the app root) added to sys.path for the script's imports.")
    config_file: str | None = setting(
        None, env="AZUREML_CONFIG_FILE", cli=("--config_file", "--config-file"), anchor=True,
        group="Entry script and model", metavar="PATH",
        doc="A JSON config file whose keys are these environment variable names. Default: config.json "
            "in the app root, else beside the entry script.")
    extra_requirements_txt: str | None = setting(
        None, env="AZUREML_EXTRA_REQUIREMENTS_TXT", anchor=True, group="Entry script and model",
        metavar="PATH", doc="A requirements file pip-installs at start (relative to the app root).")

    # --- HTTP server -----------------------------------------------------------------------
    port: int = setting(
        5001, env="SERVER_PORT", cli=("--port",), check=_port, anchor=True, group="HTTP server",
        doc="The port serving /score, probes and swagger.")
    host: str = setting(
        "0.0.0.0", env="SCOREHOST_HOST", cli=("--host", "--bind"), group="HTTP server", metavar="ADDR",
        doc="The address to bind (tests and benchmarks use 127.0.0.1).")
    separate_health_endpoint: bool = setting(
        False, env="SEPERATE_HEALTH_ENDPOINT", anchor=True, group="HTTP server",
        doc="Also listen on HEALTH_PORT (azmlinfsrv's spelling of the variable). Passing --health_port "
            "turns it on too.")
    health_port: int = setting(
        5000, env="HEALTH_PORT", cli=("--health_port", "--health-port"), check=_port, anchor=True,
        group="HTTP server", doc="The second listener for probes (and /metrics), when enabled.")
    cors_origins: str | None = setting(
        None, env="AML_CORS_ORIGINS", cli=("--access_control_allow_origins", "--access-control-allow-origins"),
        anchor=True, group="HTTP server", metavar="ORIGINS",
        doc='Comma-separated origins allowed by CORS, e.g. "https://a.example, https://b.example".')
    keepalive_s: int = setting(
        5, env="SCOREHOST_KEEPALIVE_S", check=_not_negative, group="HTTP server",
        doc="Seconds an idle keep-alive connection (or one sending its headers) stays open.")
    server_version_enabled: bool = setting(
        True, env="SERVER_VERSION_LOG_RESPONSE_ENABLED", anchor=True, group="HTTP server",
        doc="Send the x-ms-server-version header.")
    server_version: str | None = setting(
        None, env="HTTP_X_MS_SERVER_VERSION", anchor=True, group="HTTP server",
        doc="The x-ms-server-version value. Default: scorehost/<version>.")

    # --- runners and timeouts --------------------------------------------------------------
    worker_count: int = setting(
        1, env="WORKER_COUNT", cli=("--worker_count", "--worker-count"), check=_positive, anchor=True,
        group="Runners and timeouts",
        doc="Runner processes, each importing the script and calling init() once.")
    runner_concurrency: int = setting(
        1, env="SCOREHOST_RUNNER_CONCURRENCY", check=_positive, group="Runners and timeouts",
        doc="run() calls one runner executes at once, in threads. Keep 1 unless run() is thread-safe "
            "and waits on I/O or GIL-releasing code.")
    scoring_timeout_ms: int = setting(
        3600 * 1000, env="SCORING_TIMEOUT_MS", config=True, check=_positive, anchor=True,
        group="Runners and timeouts",
        doc="Time one run() call may take. The client gets a 500 'Scoring timeout' on time; the runner is "
            "interrupted, and replaced if it does not return within the grace.")
    timeout_grace_ms: int = setting(
        1000, env="SCOREHOST_TIMEOUT_GRACE_MS", check=_not_negative, group="Runners and timeouts",
        doc="After a scoring timeout, how long an interrupted runner has to come back before it is killed.")
    worker_timeout_s: int = setting(
        300, env="WORKER_TIMEOUT", check=_positive, anchor=True, group="Runners and timeouts",
        doc="Seconds a runner may spend importing the script and in init() before it is killed "
            "(azmlinfsrv: gunicorn's worker timeout, which also killed long requests).")
    worker_preload: bool = setting(
        False, env="WORKER_PRELOAD", anchor=True, group="Runners and timeouts",
        doc="Accepted for compatibility; has no effect (runners are fresh interpreters, never forked).")
    max_requests_per_runner: int = setting(
        0, env="SCOREHOST_MAX_REQUESTS_PER_RUNNER", check=_not_negative, group="Runners and timeouts",
        doc="Replace a runner after this many requests (0: never). The replacement is started first.")
    max_init_crashes: int = setting(
        3, env="SCOREHOST_MAX_INIT_CRASHES", check=_positive, group="Runners and timeouts",
        doc="Runner deaths during start-up (import or init) after which the server gives up and exits 3.")
    graceful_timeout_s: int = setting(
        30, env="SCOREHOST_GRACEFUL_TIMEOUT", check=_not_negative, group="Runners and timeouts",
        doc="On SIGTERM, how long in-flight and queued requests have to finish.")

    # --- limits and backpressure ------------------------------------------------------------
    max_request_bytes: int = setting(
        100 * 1024 * 1024, env="SCOREHOST_MAX_REQUEST_BYTES", check=_positive, group="Limits and backpressure",
        doc="Largest request body (also chunked); larger ones get 413 before they are read.")
    body_timeout_ms: int = setting(
        60_000, env="SCOREHOST_BODY_TIMEOUT_MS", check=_positive, group="Limits and backpressure",
        doc="Deadline for receiving a whole request body; slower clients are cut off with 408.")
    max_queue: int = setting(
        128, env="SCOREHOST_MAX_QUEUE", check=_not_negative, group="Limits and backpressure",
        doc="Requests that may wait for a free runner; beyond that, 503 with Retry-After at once.")
    max_queue_wait_ms: int = setting(
        30_000, env="SCOREHOST_MAX_QUEUE_WAIT_MS", check=_positive, group="Limits and backpressure",
        doc="How long a request may wait for a free runner before it gets 503 with Retry-After.")

    # --- security ---------------------------------------------------------------------------
    api_key: str | None = setting(
        None, env="SCOREHOST_API_KEY", secret=True, group="Security",
        doc="When set, /score and /swagger.json require 'Authorization: Bearer <key>'. Probes stay open.")
    api_key_file: str | None = setting(
        None, env="SCOREHOST_API_KEY_FILE", group="Security", metavar="PATH",
        doc="A file holding the API key (e.g. a mounted secret); used when SCOREHOST_API_KEY is not set.")
    debug: bool = setting(
        False, env="SCOREHOST_DEBUG", cli=("--debug",), group="Security",
        doc="Put exception text and tracebacks into error responses. Never in production.")

    # --- swagger and service identity ---------------------------------------------------------
    service_name: str = setting(
        "ML service", env="SERVICE_NAME", config=True, anchor=True, group="Swagger and service identity",
        doc="Service name, used in swagger and telemetry.")
    service_version: str = setting(
        "1.0", env="SERVICE_VERSION", config=True, anchor=True, group="Swagger and service identity",
        doc="Service version, used in swagger.")
    service_path_prefix: str = setting(
        "", env="SERVICE_PATH_PREFIX", config=True, anchor=True, group="Swagger and service identity",
        doc="Path prefix written into the swagger paths (the routes themselves are not prefixed).")
    workspace_name: str = setting(
        "", env="WORKSPACE_NAME", config=True, anchor=True, group="Swagger and service identity",
        doc="Azure ML workspace name, reported in telemetry.")
    hostname: str = setting(
        "Unknown", env="HOSTNAME", config=True, anchor=True, group="Swagger and service identity",
        doc="Container id reported in telemetry.")

    # --- logging and telemetry -------------------------------------------------------------------
    log_level: str = setting(
        "INFO", env="AZUREML_LOG_LEVEL", config=True, check=_log_level, anchor=True,
        group="Logging and telemetry", doc="Log level of the server and of print() from the script.")
    log_format: str = setting(
        "text", env="SCOREHOST_LOG_FORMAT", check=_one_of("text", "json"), group="Logging and telemetry",
        doc="text: azmlinfsrv's line format; json: one JSON object per line with the request id.")
    app_insights_enabled: bool = setting(
        False, env="AML_APP_INSIGHTS_ENABLED", anchor=True, group="Logging and telemetry",
        doc="Send requests, exceptions and print/log traces to Application Insights.")
    app_insights_key: str | None = setting(
        None, env="AML_APP_INSIGHTS_KEY", cli=("--appinsights_instrumentation_key",
                                              "--appinsights-instrumentation-key"),
        secret=True, anchor=True, group="Logging and telemetry", metavar="KEY",
        doc="Application Insights instrumentation key (the command-line flag also enables it).")
    app_insights_connection_string: str | None = setting(
        None, env="APPLICATIONINSIGHTS_CONNECTION_STRING", secret=True, group="Logging and telemetry",
        doc="Azure Monitor connection string; enables Application Insights on its own.")
    app_insights_log_response: bool = setting(
        True, env="APP_INSIGHTS_LOG_RESPONSE_ENABLED", config=True, anchor=True, group="Logging and telemetry",
        doc="Include the response body in the request telemetry.")
    model_data_collection: bool = setting(
        False, env=("AML_MDC_STORAGE_ENABLED", "AML_MODEL_DC_STORAGE_ENABLED"), anchor=True,
        group="Logging and telemetry",
        doc="Send model inputs/outputs to Application Insights (azmlinfsrv documents "
            "AML_MODEL_DC_STORAGE_ENABLED but reads AML_MDC_STORAGE_ENABLED; both work).")
    debug_port: int | None = setting(
        None, env="AZUREML_DEBUG_PORT", config=True, check=_port, anchor=True, group="Logging and telemetry",
        doc="Attach the first runner to a debugpy client on this port (development only).")
    metrics_enabled: bool = setting(
        True, env="SCOREHOST_METRICS", group="Logging and telemetry",
        doc="Serve Prometheus metrics at GET /metrics (on the health port when one is set).")
    data_collection: str = setting(
        "off", env="SCOREHOST_DATA_COLLECTION", check=_one_of("off", "jsonl", "appinsights"),
        group="Logging and telemetry",
        doc="Server-side capture of /score inputs and outputs: off; jsonl (JSON Lines files under "
            "SCOREHOST_DATA_COLLECTION_DIR/server-capture, rotated, capped); appinsights (App Insights "
            "model_data_collection traces; needs App Insights on).")
    data_collection_dir: str = setting(
        "/tmp/scorehost-data", env="SCOREHOST_DATA_COLLECTION_DIR", group="Logging and telemetry",
        metavar="DIR", doc="Where jsonl data collection writes (rotated files).")
    data_collection_sample_rate: float = setting(
        1.0, env="SCOREHOST_DATA_COLLECTION_SAMPLE_RATE", check=_sample_rate, group="Logging and telemetry",
        doc="Fraction of successful /score requests captured, decided by a hash of the request id "
            "(deterministic: the same id is always in or out).")
    data_collection_max_bytes: int = setting(
        1024 * 1024 * 1024, env="SCOREHOST_DATA_COLLECTION_MAX_BYTES", check=_positive,
        group="Logging and telemetry", doc="Stop capturing once this many bytes were written.")
    otlp_endpoint: str | None = setting(
        None, env=("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"), group="Logging and telemetry",
        metavar="URL",
        doc="Export OpenTelemetry spans with OTLP/HTTP (protobuf) when set. The exporter reads the other standard "
            "OTEL_* variables itself (OTEL_EXPORTER_OTLP_HEADERS, ..._TIMEOUT, OTEL_SERVICE_NAME, "
            "OTEL_RESOURCE_ATTRIBUTES); OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none turn it off.")
    telemetry_max_queue: int = setting(
        2048, env="SCOREHOST_TELEMETRY_MAX_QUEUE", check=_positive, group="Logging and telemetry",
        doc="Telemetry items (per exporter and signal) buffered for export; beyond that new items are dropped and "
            "counted in scorehost_telemetry_dropped_total, never blocking a request.")
    telemetry_export_interval_ms: int = setting(
        5000, env="SCOREHOST_TELEMETRY_EXPORT_INTERVAL_MS", check=_positive, group="Logging and telemetry",
        doc="How often buffered telemetry is exported (sooner when a batch of 100 App Insights / 512 OTLP "
            "items is waiting). Everything buffered is flushed at shutdown.")

    # --- derived values -------------------------------------------------------------------------
    @property
    def health_listener(self) -> bool:
        """Whether a second listener for probes is bound."""
        return self.separate_health_endpoint and self.health_port != self.port

    @property
    def server_version_header(self) -> str | None:
        if not self.server_version_enabled:
            return None
        from ._version import __version__
        return self.server_version or f"scorehost/{__version__}"

    def resolved_api_key(self) -> str | None:
        if self.api_key:
            return self.api_key
        if self.api_key_file:
            with open(self.api_key_file, encoding="utf-8") as fh:
                return fh.read().strip() or None
        return None

    def redacted(self) -> dict[str, Any]:
        """Values for the startup banner: secrets are shown only as 'set'."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata["secret"] and value:
                value = "(set)"
            out[f.name] = value
        return out


# ------------------------------------------------------------------------------- declarations

def declarations() -> list[dataclasses.Field]:
    return list(dataclasses.fields(Settings))


_HINTS: dict[str, Any] | None = None


def _base_type(name: str) -> type:
    global _HINTS
    if _HINTS is None:
        _HINTS = typing.get_type_hints(Settings)
    hint = _HINTS[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def type_name(f: dataclasses.Field) -> str:
    return {int: "integer", float: "number", bool: "boolean", str: "string"}[_base_type(f.name)]


class ConfigurationError(Exception):
    """One or more settings have invalid values; ``problems`` lists (setting, message)."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{name}: {msg}" for name, msg in problems))

    def banner(self) -> str:
        lines = ["", "===============Configuration Error================="]
        lines += [f"{name}: {msg}" for name, msg in self.problems]
        lines.append("===================================================")
        return "\n".join(lines)


def _convert(f: dataclasses.Field, raw: Any) -> Any:
    """Turn a raw value (str from env/CLI, JSON value from the config file) into the field's type."""
    kind = _base_type(f.name)
    if raw is None:
        return None
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, (int, float)) and raw in (0, 1):
            return bool(raw)
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"expected a boolean (true/false), got {raw!r}")
    if kind is int:
        if isinstance(raw, bool):
            raise ValueError(f"expected an integer, got {raw!r}")
        if isinstance(raw, float):
            if raw.is_integer():
                return int(raw)
            raise ValueError(f"expected an integer, got {raw!r}")
        if isinstance(raw, int):
            return raw
        try:
            return int(str(raw).strip())
        except ValueError:
            raise ValueError(f"expected an integer, got {raw!r}") from None
    if kind is float:
        if isinstance(raw, bool):
            raise ValueError(f"expected a number, got {raw!r}")
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"expected a number, got {raw!r}") from None
    if isinstance(raw, (dict, list)):
        raise ValueError(f"expected a string, got {json.dumps(raw)}")
    return str(raw)


def find_config_file(explicit: str | None, app_root: str, entry_script: str | None) -> str | None:
    """azmlinfsrv's lookup: the named file, else config.json in the app root, else beside the script."""
    def usable(path: str | None) -> bool:
        return bool(path) and os.path.isfile(path) and os.path.getsize(path) > 0
    if usable(explicit):
        return explicit
    roots = [app_root]
    if entry_script:
        roots.append(os.path.dirname(os.path.abspath(entry_script)))
    for root in roots:
        candidate = os.path.join(root, "config.json")
        if root and usable(candidate):
            return candidate
    return None


@dataclass
class Loaded:
    settings: Settings
    sources: dict[str, str]            # field name -> "cli" | "env NAME" | "config FILE" | "default"
    config_file: str | None
    unknown_config_keys: list[str]


def load(cli: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None,
         cwd: str | None = None) -> Loaded:
    """Build Settings from command-line values (field name -> raw value), env and config file."""
    cli = {k: v for k, v in (cli or {}).items() if v is not None}
    environ = os.environ if environ is None else environ
    cwd = cwd or os.getcwd()
    fields = {f.name: f for f in declarations()}

    def from_env(f: dataclasses.Field) -> tuple[str, str] | None:
        for name in f.metadata["env"]:
            if name in environ:
                return name, environ[name]
        return None

    # The config file location depends on the app root and entry script, which come from
    # the command line or the environment only (never from the config file itself).
    app_root = cli.get("app_root") or environ.get("AML_APP_ROOT") or cwd
    entry = cli.get("entry_script") or environ.get("AZUREML_ENTRY_SCRIPT")
    if entry and not os.path.isabs(entry):
        entry = os.path.join(app_root, entry)
    explicit = cli.get("config_file") or environ.get("AZUREML_CONFIG_FILE")
    config_path = find_config_file(explicit, app_root, entry)

    problems: list[tuple[str, str]] = []
    config_values: dict[str, Any] = {}
    unknown: list[str] = []
    if explicit and not os.path.isfile(explicit):
        problems.append(("AZUREML_CONFIG_FILE", f"config file {explicit!r} does not exist"))
    if config_path:
        try:
            with open(config_path, encoding="utf-8") as fh:
                data = json.load(fh)
            if not isinstance(data, dict):
                raise ValueError("the file must hold a JSON object")
        except (OSError, ValueError) as exc:
            problems.append(("AZUREML_CONFIG_FILE", f"cannot read config file {config_path}: {exc}"))
            data = {}
        config_keys = {}
        for f in fields.values():
            if f.metadata["config"] or f.metadata["env"] and f.metadata["env"][0].startswith("SCOREHOST_"):
                config_keys[f.metadata["env"][0]] = f.name
        for key, value in data.items():
            if key in config_keys:
                config_values[config_keys[key]] = (key, value)
            else:
                unknown.append(key)

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, f in fields.items():
        label = f.metadata["env"][0] if f.metadata["env"] else name
        if name in cli:
            raw, source = cli[name], "command line"
        elif (hit := from_env(f)) is not None:
            raw, source = hit[1], f"environment variable {hit[0]}"
            label = hit[0]
        elif name in config_values:
            raw, source = config_values[name][1], f"config file {config_path}"
        else:
            sources[name] = "default"
            continue
        try:
            value = _convert(f, raw)
            check = f.metadata["check"]
            if value is not None and check and (msg := check(value)):
                raise ValueError(f"{msg}, got {raw!r}")
        except ValueError as exc:
            problems.append((label, f"{exc} (from {source})"))
            continue
        values[name] = value
        sources[name] = source

    if problems:
        raise ConfigurationError(problems)

    # azmlinfsrv's command line: the script path is taken relative to the current directory,
    # and the app root defaults to the current directory.
    values.setdefault("app_root", cwd)
    if "entry_script" in values and sources["entry_script"] == "command line":
        values["entry_script"] = os.path.realpath(values["entry_script"])
    if "config_file" in values and sources["config_file"] == "command line":
        values["config_file"] = os.path.realpath(values["config_file"])
    if sources.get("health_port") == "command line":
        values["separate_health_endpoint"] = True
    if sources.get("app_insights_key") == "command line":
        values["app_insights_enabled"] = True
    if "log_level" in values:
        values["log_level"] = values["log_level"].upper()
    return Loaded(Settings(**values), sources, config_path, unknown)


def iter_cli_fields() -> Iterator[dataclasses.Field]:
    return (f for f in declarations() if f.metadata["cli"])


def markdown_reference() -> str:
    """The settings reference table (docs/settings.md), generated from the declarations."""
    out = ["# Settings reference", "",
           "Generated by `scorehost settings --markdown` from `runtime/scorehost/settings.py`; do not edit.",
           "",
           "Precedence: command line > environment > config file > default. Config-file keys are the "
           "environment variable names; only those marked *config* (azmlinfsrv's keys) and the "
           "`SCOREHOST_*` ones are read from it. *azmlinfsrv* marks settings with azmlinfsrv's name and meaning.",
           ""]
    for group in GROUPS:
        out += [f"## {group}", "", "| environment | flags | type | default | meaning |",
                "|---|---|---|---|---|"]
        for f in declarations():
            if f.metadata["group"] != group:
                continue
            envs = " / ".join(f"`{e}`" for e in f.metadata["env"])
            tags = []
            if f.metadata["anchor"]:
                tags.append("azmlinfsrv")
            if f.metadata["config"] or (f.metadata["env"] and f.metadata["env"][0].startswith("SCOREHOST_")):
                tags.append("config")
            if tags:
                envs += " (" + ", ".join(tags) + ")"
            flags = ", ".join(f"`{c}`" for c in f.metadata["cli"]) or ""
            default = f.default
            shown = "—" if default is None else f"`{default}`"
            doc = f.metadata["doc"].replace("|", "\\|")
            out.append(f"| {envs} | {flags} | {type_name(f)} | {shown} | {doc} |")
        out.append("")
    return "\n".join(out)
