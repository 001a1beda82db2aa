"""The Python baseline of issue 6: a webhook endpoint doing only what a Python stack must do at
least (verify the JWT in the URL with PyJWT, HS256, and `json.loads` the body), served by
gunicorn with 2 workers. The load harness starts it with `--python-baseline` and sends it the
deliveries of mix b.

Environment: BASELINE_JWT_SECRET, the HMAC key the harness signed the token with.
"""

import json
import os

import jwt

SECRET = os.environ["BASELINE_JWT_SECRET"]


def app(environ, start_response):
    token = environ.get("PATH_INFO", "").rstrip("/").rsplit("/", 1)[-1]
    try:
        claims = jwt.decode(token, SECRET, algorithms=["HS256"])
        if "id" not in claims:
            raise ValueError("no id claim")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        json.loads(environ["wsgi.input"].read(length))
        status = "200 OK"
    except Exception:  # any bad token or body is a 400, as in the reference server
        status = "400 Bad Request"
    start_response(status, [("Content-Length", "0")])
    return [b""]
