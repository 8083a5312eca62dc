"""The real-world cases: which script, which model, which requests, and how answers are normalised.

Shared by ``record_golden.py`` (records azmlinfsrv's answers into ``golden.json``) and
``test_realworld.py`` (replays the same requests against scorehost). Standard library only at
import time; numpy/Pillow/the model builders are imported when a case needs them.
"""
from __future__ import annotations

import importlib.util
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "scripts"
GOLDEN = HERE / "golden.json"

# Keys whose values change on every call (timings); their values are replaced by a type marker.
VOLATILE_KEYS = {"time_in_sec"}
# Response headers compared besides the status line.
COMPARED_HEADERS = ("content-type", "x-ms-run-function-failed")


@dataclass
class Req:
    id: str
    method: str = "POST"
    path: str = "/score"
    body: Callable[[], bytes] | None = None
    headers: dict = field(default_factory=dict)

    def build(self) -> tuple[bytes | None, dict]:
        return (self.body() if self.body else None), dict(self.headers)


@dataclass
class Case:
    name: str
    requires: tuple[str, ...]          # third-party modules the script and its model builder import
                                        # (azureml.* excluded: scorehost ships fallbacks for those)
    requests: list[Req] = field(default_factory=list)
    expect: str = "ready"               # "ready" or "exit" (the script cannot start)
    log_phrases: tuple[str, ...] = ()   # for expect="exit": phrases both servers' logs must contain

    @property
    def script(self) -> Path:
        return SCRIPTS / self.name / "score.py"

    def build_model(self, root: Path) -> Path | None:
        """Run the case's make_model.py into ROOT; returns AZUREML_MODEL_DIR (None: no model)."""
        maker = SCRIPTS / self.name / "make_model.py"
        if not maker.exists():
            return None
        spec = importlib.util.spec_from_file_location(f"make_model_{self.name}", maker)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return Path(module.build(str(root)))


# ---------------------------------------------------------------------------------- bodies
def _json(obj: Any) -> Callable[[], bytes]:
    return lambda: json.dumps(obj).encode()


def _raw(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def png(size: tuple[int, int], color=(200, 30, 30)) -> bytes:
    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def noise_png(size: tuple[int, int], seed: int = 5) -> bytes:
    """A PNG of deterministic noise (does not compress: about 3 bytes per pixel)."""
    import numpy as np
    from PIL import Image
    pixels = np.random.RandomState(seed).randint(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, format="PNG")
    return out.getvalue()


BOUNDARY = "scorehostRealWorldBoundary7MA4YWxk"
MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def multipart(parts: list[tuple]) -> Callable[[], bytes]:
    """parts: (field, value) for a text field or (field, filename, content_type, bytes_or_callable)."""
    def build() -> bytes:
        out = io.BytesIO()
        for part in parts:
            out.write(f"--{BOUNDARY}\r\n".encode())
            if len(part) == 2:
                out.write(f'Content-Disposition: form-data; name="{part[0]}"\r\n\r\n{part[1]}\r\n'.encode())
            else:
                name, filename, ctype, data = part
                data = data() if callable(data) else data
                out.write(f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                          f"Content-Type: {ctype}\r\n\r\n".encode())
                out.write(data + b"\r\n")
        out.write(f"--{BOUNDARY}--\r\n".encode())
        return out.getvalue()
    return build


def _mnist_image() -> list:
    spec = importlib.util.spec_from_file_location("make_model_mnist", SCRIPTS / "onnx_mnist_get_model_path" / "make_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.sample_image()


ROWS = {"data": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]]}
IRIS_ROWS = [[7.2, 3.2, 6.0, 1.8], [5.0, 3.4, 1.5, 0.25], [5.9, 2.8, 4.3, 1.3]]
IRIS_COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
JSON_HDR = {"Content-Type": "application/json"}

CASES: list[Case] = [
    Case("sklearn_model1", ("sklearn", "joblib"), [
        Req("predict_two_rows", body=_json(ROWS), headers=JSON_HDR),
        Req("predict_text_plain", body=_json(ROWS), headers={"Content-Type": "text/plain"}),
        # `curl -d @sample.json URL` without -H sends this content type
        Req("predict_curl_d_form_type", body=_json(ROWS), headers={"Content-Type": "application/x-www-form-urlencoded"}),
        Req("get_query", method="GET", path="/score?data=%5B%5B1,2,3,4,5,6,7,8,9,10%5D%5D"),
        Req("not_json", body=_raw(b"hello"), headers={"Content-Type": "text/plain"}),
        Req("wrong_feature_count", body=_json({"data": [[1, 2, 3]]}), headers=JSON_HDR),
        Req("missing_data_key", body=_json({"rows": [[1] * 10]}), headers=JSON_HDR),
    ]),
    Case("schema_numpy_iris", ("sklearn", "joblib", "inference_schema"), [
        Req("predict", body=_json({"iris": IRIS_ROWS}), headers=JSON_HDR),
        Req("predict_one_row", body=_json({"iris": [IRIS_ROWS[0]]}), headers=JSON_HDR),
        Req("predict_no_content_type", body=_json({"iris": IRIS_ROWS})),
        Req("predict_text_plain", body=_json({"iris": IRIS_ROWS}), headers={"Content-Type": "text/plain"}),
        Req("strings_for_numbers", body=_json({"iris": [["a", "b", "c", "d"]]}), headers=JSON_HDR),
        Req("wrong_row_width", body=_json({"iris": [[1.0, 2.0]]}), headers=JSON_HDR),
        Req("wrong_param_name", body=_json({"data": IRIS_ROWS}), headers=JSON_HDR),
        Req("get_query", method="GET", path="/score?iris=%5B%5B7.2,3.2,6.0,1.8%5D%5D"),
        Req("swagger", method="GET", path="/swagger.json"),
        Req("swagger_v3", method="GET", path="/swagger.json?version=3"),
    ]),
    Case("schema_pandas_iris", ("sklearn", "joblib", "inference_schema", "pandas"), [
        Req("predict_records", body=_json({"iris": [dict(zip(IRIS_COLUMNS, r)) for r in IRIS_ROWS]}),
            headers=JSON_HDR),
        Req("predict_one_record", body=_json({"iris": [dict(zip(IRIS_COLUMNS, IRIS_ROWS[2]))]}), headers=JSON_HDR),
        Req("strings_for_numbers", body=_json({"iris": [dict(zip(IRIS_COLUMNS, ["a", "b", "c", "d"]))]}),
            headers=JSON_HDR),
        Req("missing_column", body=_json({"iris": [dict(zip(IRIS_COLUMNS[:3], IRIS_ROWS[0]))]}), headers=JSON_HDR),
        Req("swagger", method="GET", path="/swagger.json"),
    ]),
    Case("onnx_mnist_get_model_path", ("onnxruntime", "onnx"), [
        Req("predict", body=lambda: json.dumps({"data": _mnist_image()}).encode(), headers=JSON_HDR),
        Req("wrong_shape", body=_json({"data": [[1.0, 2.0, 3.0]]}), headers=JSON_HDR),
        Req("not_json", body=_raw(b"not json"), headers={"Content-Type": "text/plain"}),
    ]),
    Case("multi_model_get_model_path", ("sklearn", "joblib"), [
        Req("predict_two_rows", body=_json(ROWS), headers=JSON_HDR),
        Req("not_json", body=_raw(b"{'data': 1}"), headers=JSON_HDR),
    ]),
    Case("rawhttp_multi_file", ("PIL",), [
        Req("two_images", body=multipart([("file[]", "a.png", "image/png", lambda: png((20, 10))),
                                          ("file[]", "b.png", "image/png", lambda: png((7, 9), (0, 0, 255)))]),
            headers=MULTIPART),
        Req("text_field_only", body=multipart([("note", "no files here")]), headers=MULTIPART),
        Req("get", method="GET", path="/score"),
        Req("options", method="OPTIONS", path="/score"),
        Req("json_body", body=_json({"file[]": "x"}), headers=JSON_HDR),
        Req("not_an_image", body=multipart([("file[]", "a.txt", "text/plain", b"hello")]), headers=MULTIPART),
    ]),
    Case("rawhttp_single_file", ("PIL",), [
        Req("one_image", body=multipart([("file", "photo.png", "image/png", lambda: png((64, 48)))]),
            headers=MULTIPART),
        Req("large_image", body=multipart([("file", "big.png", "image/png", lambda: noise_png((1600, 1200)))]),
            headers=MULTIPART),
        Req("no_file", body=multipart([("note", "nothing")]), headers=MULTIPART),
        Req("empty_post", body=_raw(b"")),
        Req("not_an_image", body=multipart([("file", "a.txt", "text/plain", b"hello")]), headers=MULTIPART),
    ]),
    Case("datacollector_aks", ("sklearn", "joblib"), [
        Req("predict_two_rows", body=_json(ROWS), headers=JSON_HDR),
        Req("predict_one_row", body=_json({"data": [ROWS["data"][1]]}), headers=JSON_HDR),
        Req("wrong_feature_count", body=_json({"data": [[1, 2, 3]]}), headers=JSON_HDR),
        Req("not_json", body=_raw(b"nope"), headers={"Content-Type": "text/plain"}),
    ]),
]

BY_NAME = {c.name: c for c in CASES}


# ---------------------------------------------------------------------------------- normalising
def _norm_value(value: Any, key: str | None = None) -> Any:
    if key in VOLATILE_KEYS:
        return f"<volatile {type(value).__name__}>"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return repr(value)
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {k: _norm_value(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_norm_value(v) for v in value]
    return value


def _norm_swagger(doc: Any) -> Any:
    """Swagger documents: drop fields naming the server build (version strings, hosts)."""
    if isinstance(doc, dict):
        doc = dict(doc)
        doc.pop("host", None)
        return doc
    return doc


def normalise(status: int, headers: dict, body: bytes, request_id: str = "") -> dict:
    """A comparable form of one response: status, selected headers, body (JSON parsed when JSON,
    images reduced to format/size/mode, other text kept as text)."""
    headers = {k.lower(): v for k, v in headers.items()}
    out: dict[str, Any] = {"status": status}
    for name in COMPARED_HEADERS:
        out[name] = headers.get(name)
    ctype = (headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype.startswith("image/"):
        try:
            from PIL import Image
            img = Image.open(io.BytesIO(body))
            out["body"] = {"image": {"format": img.format, "size": list(img.size), "mode": img.mode}}
        except Exception as exc:  # noqa: BLE001 - recorded as what it is
            out["body"] = {"undecodable_image": f"{type(exc).__name__}", "bytes": len(body)}
        return out
    try:
        parsed = json.loads(body) if body else None
        is_json = body != b""
    except ValueError:
        is_json = False
    if is_json:
        if request_id.startswith("swagger"):
            parsed = _norm_swagger(parsed)
        out["body"] = {"json": _norm_value(parsed)}
    else:
        out["body"] = {"text": body.decode("utf-8", errors="replace")}
    return out


def load_golden() -> dict:
    return json.loads(GOLDEN.read_text())
