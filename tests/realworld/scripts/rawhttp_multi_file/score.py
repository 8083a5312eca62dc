"""Entry script written for scorehost's real-world tests (our own code, not a copy).

Pattern mirrored (reference only): Azure/azureml-examples,
cli/endpoints/online/managed/binary-payloads/code/multi-file-to-json-score.py -- a
``@rawhttp`` run() that reads every upload of the multipart field "file[]" from
``AMLRequest.files`` and answers JSON describing each image (opened with Pillow).

Request:  multipart/form-data with one or more parts named "file[]"
Answer:   {"response": [{"filename": ..., "size": [width, height]}, ...]}
"""
from azureml.contrib.services.aml_request import AMLRequest, rawhttp
from PIL import Image


def init():
    """Nothing to load: the script only inspects the uploads."""


def describe(upload):
    width, height = Image.open(upload.stream).size
    return {"filename": upload.filename, "size": [width, height]}


@rawhttp
def run(request: AMLRequest):
    uploads = request.files.getlist("file[]")
    return {"response": [describe(u) for u in uploads]}
