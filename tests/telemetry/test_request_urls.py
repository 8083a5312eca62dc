"""The cached request URL (App Insights request items) is wsgiref's request_uri, query included."""
from wsgiref.util import request_uri

from scorehost.app import RequestUrls

ENVIRONS = [
    {"wsgi.url_scheme": "http", "HTTP_HOST": "127.0.0.1:5001", "PATH_INFO": "/score", "QUERY_STRING": "a=1&b=%20"},
    {"wsgi.url_scheme": "http", "HTTP_HOST": "127.0.0.1:5001", "PATH_INFO": "/score", "QUERY_STRING": "a=2"},
    {"wsgi.url_scheme": "https", "SERVER_NAME": "example", "SERVER_PORT": "443", "SCRIPT_NAME": "/svc",
     "PATH_INFO": "/sc ore"},
    {"wsgi.url_scheme": "http", "SERVER_NAME": "example", "SERVER_PORT": "8080", "PATH_INFO": "/score"},
    {"wsgi.url_scheme": "http", "HTTP_HOST": "other", "PATH_INFO": "/score", "QUERY_STRING": ""},
]


def test_urls_match_wsgiref_through_cache_hits_and_evictions():
    urls = RequestUrls(size=2)
    for _ in range(3):
        for environ in ENVIRONS:
            assert urls(environ) == request_uri(environ)
    assert len(urls.cache) <= 2
