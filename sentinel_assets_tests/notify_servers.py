"""Real servers on loopback for the channel tests: SMTP (aiosmtpd), a Slack Web API, a webhook.

Each records what it received and can be told to fail the next requests in a given way.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import hmac
import ipaddress
import json
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from sentinel_assets_tests.helpers import free_port

SLACK_TOKEN = "xoxb-test-token-0123456789"
SMTP_USER, SMTP_PASSWORD = "sentinel", "smtp-pass-4815162342"
WEBHOOK_SECRET = "whsec-test-secret-2718281828"


# -- TLS ------------------------------------------------------------------------------------------
def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for localhost / 127.0.0.1 and its key, made with `cryptography`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


# -- SMTP -----------------------------------------------------------------------------------------
class _Mailbox:
    """aiosmtpd handler: keeps every message; can drop the connection of the next N messages."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.drop_next = 0
        self.sessions = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server, session, envelope):
        if self.drop_next:
            self.drop_next -= 1
            server.transport.close()  # the connection drops in the middle of the transaction
            return "421 closing"
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(envelope.original_content or envelope.content,
                                                      policy=email.policy.default))
        return "250 OK"


@dataclass
class SmtpServer:
    port: int
    mailbox: _Mailbox
    controller: Controller

    @property
    def messages(self):
        return self.mailbox.messages


def _authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_factory(tls_files):
    """Start SMTP servers: ``smtp_factory(security="none"|"starttls"|"ssl", auth=False)``."""
    started: list[Controller] = []
    cert, key = tls_files

    def start(security: str = "none", auth: bool = False) -> SmtpServer:
        mailbox = _Mailbox()
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, key)
        kwargs: dict[str, Any] = {}
        if security == "starttls":
            kwargs.update(tls_context=tls, require_starttls=True)
        if security == "ssl":
            kwargs.update(ssl_context=tls)
        if auth:
            kwargs.update(authenticator=_authenticate, auth_required=True,
                          auth_require_tls=security != "none")
        port = free_port()
        controller = Controller(mailbox, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        started.append(controller)
        return SmtpServer(port, mailbox, controller)

    yield start
    for controller in started:
        controller.stop()


# -- HTTP -----------------------------------------------------------------------------------------
@dataclass
class Scripted:
    """Answers to give before the normal one: (status, body, headers) each."""

    answers: list[tuple[int, Any, dict]] = field(default_factory=list)

    def fail_next(self, status: int, body: Any = "", headers: dict | None = None, times: int = 1):
        self.answers.extend([(status, body, headers or {})] * times)

    def next(self) -> tuple[int, Any, dict] | None:
        return self.answers.pop(0) if self.answers else None


def _response(status: int, body: Any, headers: dict) -> Response:
    if isinstance(body, (dict, list)):
        return Response(json.dumps(body), status=status, headers=headers,
                        content_type="application/json")
    return Response(body, status=status, headers=headers, content_type="text/plain")


class FakeSlack(Scripted):
    """The Slack Web API methods sentinel uses (chat.postMessage) and an incoming webhook."""

    def __init__(self, server: HTTPServer):
        super().__init__()
        self.server = server
        self.messages: list[dict] = []  # every accepted chat.postMessage
        self.webhook_messages: list[dict] = []
        self.requests = 0
        self.request_times: list[float] = []
        self.channels = {"#data-alerts": "C0DATA"}
        self._ts = 1_700_000_000_000100
        server.expect_request("/api/chat.postMessage", method="POST").respond_with_handler(
            self._post_message)
        server.expect_request("/services/T000/B000/hooksecret123", method="POST") \
            .respond_with_handler(self._webhook)

    @property
    def base_url(self) -> str:
        return self.server.url_for("/api/")

    @property
    def webhook_url(self) -> str:
        return self.server.url_for("/services/T000/B000/hooksecret123")

    def _post_message(self, request: Request) -> Response:
        import time

        self.requests += 1
        self.request_times.append(time.monotonic())
        scripted = self.next()
        if scripted:
            return _response(*scripted)
        if request.headers.get("Authorization") != f"Bearer {SLACK_TOKEN}":
            return _response(200, {"ok": False, "error": "invalid_auth"}, {})
        data = request.get_json(silent=True) or request.form.to_dict()
        channel = self.channels.get(data.get("channel"))
        if channel is None:
            return _response(200, {"ok": False, "error": "channel_not_found"}, {})
        self._ts += 100
        ts = f"{self._ts // 1_000_000}.{self._ts % 1_000_000:06d}"
        self.messages.append({**data, "ts": ts})
        return _response(200, {"ok": True, "channel": channel, "ts": ts,
                               "message": {"text": data.get("text"), "ts": ts}}, {})

    def _webhook(self, request: Request) -> Response:
        self.requests += 1
        scripted = self.next()
        if scripted:
            return _response(*scripted)
        self.webhook_messages.append(request.get_json())
        return _response(200, "ok", {})


@pytest.fixture
def slack(httpserver: HTTPServer) -> FakeSlack:
    return FakeSlack(httpserver)


class WebhookReceiver(Scripted):
    """Checks the signature of every request and keeps the accepted ones."""

    def __init__(self, server: HTTPServer, path: str = "/hooks/sentinel-abc123",
                 secret: str = WEBHOOK_SECRET):
        super().__init__()
        self.server = server
        self.path = path
        self.secret = secret
        self.received: list[dict] = []  # {"payload", "headers", "body"} of accepted requests
        self.attempts: list[dict] = []  # headers of every request, accepted or not
        server.expect_request(path, method="POST").respond_with_handler(self._handle)

    @property
    def url(self) -> str:
        return self.server.url_for(self.path)

    def _handle(self, request: Request) -> Response:
        body = request.get_data()
        self.attempts.append(dict(request.headers))
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-Sentinel-Signature", ""), expected):
            return _response(401, "bad signature", {})
        scripted = self.next()
        if scripted:
            return _response(*scripted)
        self.received.append({"payload": json.loads(body), "headers": dict(request.headers),
                              "body": body})
        return _response(200, {"received": True}, {})


@pytest.fixture
def receiver(httpserver: HTTPServer) -> WebhookReceiver:
    return WebhookReceiver(httpserver)


@pytest.fixture
def hanging_server():
    """A threaded server whose handler waits (until the test ends) before answering."""
    server = HTTPServer(host="127.0.0.1", port=free_port(), threaded=True)
    release = threading.Event()

    def hang(request: Request) -> Response:
        release.wait(30)
        return Response("late", status=200)

    server.expect_request("/slow", method="POST").respond_with_handler(hang)
    server.start()
    yield server
    release.set()
    server.clear()
    if server.is_running():
        server.stop()


def closed_port_url(path: str = "/") -> str:
    """A URL on a loopback port that nothing listens on (connection refused)."""
    return f"http://127.0.0.1:{free_port()}{path}"

