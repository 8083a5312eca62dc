"""scorehost: serve an Azure ML style entry script (init()/run()) over HTTP.

This package root stays import-light: the runner processes import it before the
user's script, and the HTTP front imports it before gunicorn. Nothing here may
pull in a web framework or user code.
"""
from ._version import __version__

__all__ = ["__version__"]
