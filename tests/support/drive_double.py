"""Google Drive v3 and Google's OAuth token endpoint, as a ``requests`` transport adapter, for the Drive lane.

The real client (``picr.intake.drive.drive_session``: google-auth's ``AuthorizedSession``) runs unchanged; only
the last hop, the HTTP exchange, is answered here instead of by Google:

* the token endpoint verifies the service account's signed JWT (issuer, audience, scope, signature against
  the key's public half) and hands out an access token;
* Drive refuses any call without that token (401, as Drive does), and otherwise replays the test's
  scripted answers in order: a dict as Drive's JSON, bytes as a file's content, ``(status, dict)`` as an
  error. A multipart upload is parsed as Drive parses it (metadata part, then media part).

Every Drive request is kept (``calls``) so a test can check what the sync asked for, in what order.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt
from requests.structures import CaseInsensitiveDict

TOKEN_URI = "https://oauth2.googleapis.com/token"
ACCESS_TOKEN = "ya29.picr-test-token"
DRIVE_SCOPE = "https://www.googleapis.com/auth/drive"


def service_account_key(email: str = "picr@project.iam.gserviceaccount.com") -> tuple[dict[str, Any], bytes]:
    """A service-account key file's JSON, as Google issues it, and the public key that verifies its JWTs."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = private.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    key = {"type": "service_account", "project_id": "p", "private_key_id": "k1", "private_key": pem,
           "client_email": email, "client_id": "1", "token_uri": TOKEN_URI}
    return key, public


@dataclass
class DriveCall:
    """One request the client sent to Drive."""

    method: str
    path: str
    query: dict[str, str]
    body: bytes
    headers: CaseInsensitiveDict

    @property
    def multipart(self) -> tuple[dict[str, Any], bytes, str]:
        """A multipart/related upload read as Drive reads it: (metadata, media bytes, media type)."""
        raw = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + self.body
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
        assert message.get_content_type() == "multipart/related", message.get_content_type()
        metadata, media = message.iter_parts()
        assert metadata.get_content_type() == "application/json"
        return json.loads(metadata.get_payload(decode=True)), media.get_payload(decode=True), media.get_content_type()


class DriveDouble(requests.adapters.BaseAdapter):
    """Drive and the token endpoint for one service account (its key's public half verifies the JWTs)."""

    def __init__(self, public_key: bytes, service_account: str) -> None:
        super().__init__()
        self.public_key = public_key
        self.service_account = service_account
        self.answers: list[Any] = []
        self.calls: list[DriveCall] = []
        self.tokens_issued = 0

    def script(self, *answers: Any) -> DriveDouble:
        """Drive's next answers, in the order the client will ask."""
        self.answers = list(answers)
        self.calls = []
        return self

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = urlsplit(request.url)
        body = request.body.encode() if isinstance(request.body, str) else (request.body or b"")
        if f"{url.scheme}://{url.netloc}{url.path}" == TOKEN_URI:
            return self._token(request, body)
        assert url.netloc == "www.googleapis.com", request.url
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        self.calls.append(DriveCall(request.method or "", url.path, query, body, request.headers))
        if request.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
            return _response(request, 401, {"error": {"code": 401, "message": "Request is missing required "
                                                      "authentication credential."}})
        assert self.answers, f"Drive was asked {request.method} {url.path} after the script ran out"
        answer = self.answers.pop(0)
        if isinstance(answer, bytes):
            return _response(request, 200, answer, "application/octet-stream")
        if isinstance(answer, tuple):
            return _response(request, *answer)
        return _response(request, 200, answer)

    def _token(self, request: requests.PreparedRequest, body: bytes) -> requests.Response:
        form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
        assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        claims = jwt.decode(form["assertion"], certs=self.public_key, audience=TOKEN_URI)
        assert claims["iss"] == self.service_account and DRIVE_SCOPE in claims["scope"].split()
        self.tokens_issued += 1
        return _response(request, 200, {"access_token": ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer"})

    def close(self) -> None:
        pass


def _response(request: requests.PreparedRequest, status: int, body: Any,
              content_type: str = "application/json; charset=UTF-8") -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.reason = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}.get(status, "Error")
    response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response.headers = CaseInsensitiveDict({"Content-Type": content_type})
    response.url = request.url or ""
    response.request = request
    response.encoding = "utf-8"
    return response
