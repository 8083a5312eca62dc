"""Image in, image out: repaint an uploaded picture with a learned 8-colour palette.

A @rawhttp entry script: run() receives the whole HTTP request (an AMLRequest, i.e. a Flask
request) and returns an AMLResponse, so it chooses the status, the body bytes and the
Content-Type itself.

- POST /score with the image as a multipart/form-data file field named "image" (a browser
  form, `curl -F image=@photo.jpg`), or as the raw body with an image/* Content-Type:
  answers the repainted picture as PNG bytes (Content-Type: image/png). Pictures larger
  than 512 px are scaled down first.
- GET /score: answers JSON describing the palette.
- No image, or bytes that are not a picture Pillow can read: 400 with a JSON message
  (413 for a picture with more pixels than Pillow's decompression-bomb limit).

The palette is a scikit-learn KMeans model loaded from $AZUREML_MODEL_DIR/palette.joblib
(make_model.py writes it).
"""
import io
import json
import os

import joblib
import numpy as np
from azureml_inference_server_http.api.aml_request import rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse
from PIL import Image, UnidentifiedImageError

MAX_SIDE = 512
palette = None


def init():
    global palette
    palette = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "palette.joblib"))


def _error(status, message):
    return AMLResponse({"message": message}, status, json_str=True)


def _hex(color):
    return "#" + "".join(f"{round(float(c) * 255):02x}" for c in color)


@rawhttp
def run(request):
    if request.method == "GET":
        colors = [_hex(c) for c in palette.cluster_centers_]
        return AMLResponse(json.dumps({"palette": colors, "usage": "POST an image as the multipart field "
                                       "'image' or as an image/* body; the answer is a PNG"}), 200,
                           {"Content-Type": "application/json"})
    if request.method != "POST":
        return _error(405, f"{request.method} is not supported: POST an image, or GET the palette")

    upload = request.files.get("image")
    if upload is not None:
        data = upload.read()
    elif request.mimetype.startswith("image/"):
        data = request.get_data()
    else:
        return _error(400, "Send the image as a multipart/form-data file field named 'image' "
                           "(curl -F image=@photo.png ...) or as the body with an image/* Content-Type "
                           f"(got Content-Type {request.mimetype or 'none'!r})")
    if not data:
        return _error(400, "The image is empty")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image = image.convert("RGB")
    except UnidentifiedImageError:
        return _error(400, "Cannot read the upload as an image: send a PNG, JPEG, GIF, BMP or WebP file")
    except Image.DecompressionBombError:
        return _error(413, f"The image has too many pixels (the limit is {Image.MAX_IMAGE_PIXELS})")
    except OSError as exc:  # e.g. a truncated file
        return _error(400, f"Cannot read the upload as an image: {exc}")
    image.thumbnail((MAX_SIDE, MAX_SIDE))

    pixels = np.asarray(image, dtype=np.float64).reshape(-1, 3) / 255
    repainted = palette.cluster_centers_[palette.predict(pixels)]
    out = Image.fromarray((repainted.reshape(image.height, image.width, 3) * 255).round().astype(np.uint8), "RGB")
    buffer = io.BytesIO()
    out.save(buffer, format="PNG")
    return AMLResponse(buffer.getvalue(), 200, {"Content-Type": "image/png",
                                                 "X-Image-Size": f"{out.width}x{out.height}"})
