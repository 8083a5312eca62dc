"""Entry script written for scorehost's real-world tests (our own code, not a copy).

Pattern mirrored (reference only): Azure/azureml-examples,
cli/endpoints/online/managed/binary-payloads/code/single-file-to-file-score.py -- a
``@rawhttp`` run() that takes the multipart upload "file", shrinks the image to a thumbnail
and returns the JPEG bytes in an ``AMLResponse`` whose mimetype is set by hand; without an
upload it answers 422 with a short text.

Request:  multipart/form-data with a part named "file"
Answer:   200, JPEG 128x128  |  422 "No file uploaded"
"""
import io

from azureml.contrib.services.aml_request import AMLRequest, rawhttp
from azureml.contrib.services.aml_response import AMLResponse
from PIL import Image

THUMBNAIL = (128, 128)


def init():
    """Nothing to load."""


@rawhttp
def run(request: AMLRequest):
    uploads = request.files.getlist("file")
    if not uploads:
        return AMLResponse("No file uploaded", status_code=422)
    picture = Image.open(uploads[0].stream).resize(THUMBNAIL)
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, format="JPEG")
    answer = AMLResponse(message=buffer.getvalue(), status_code=200)
    answer.mimetype = "image/jpeg"
    return answer
