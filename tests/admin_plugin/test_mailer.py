"""SmtpMailer against real aiosmtpd servers: plain, STARTTLS with login, implicit TLS,
refusals and a server that is not there."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from admin_plugin import MailError, SmtpConfig, SmtpMailer
from keystile.redis_server import free_port
from policies import Settings
from policies.errors import ConfigError
from tests.support.admin import Inbox

SENDER = "Keystile <keystile@acme.test>"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (cert.pem, key.pem)."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def authenticator(
    server: SMTP, session: object, envelope: Envelope, mechanism: str, auth_data: object
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"right-password"
    return AuthResult(success=ok, handled=False)  # handled=False: answer 535


def run(controller: Controller) -> Iterator[int]:
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


@pytest.fixture
def starttls_server(certificate: tuple[Path, Path], inbox: Inbox) -> Iterator[int]:
    yield from run(
        Controller(
            inbox,
            hostname="127.0.0.1",
            port=free_port(),
            tls_context=server_tls(certificate),
            require_starttls=True,
            authenticator=authenticator,
            auth_required=True,
        )
    )


@pytest.fixture
def ssl_server(certificate: tuple[Path, Path], inbox: Inbox) -> Iterator[int]:
    yield from run(
        Controller(
            inbox, hostname="127.0.0.1", port=free_port(), ssl_context=server_tls(certificate)
        )
    )


def test_plain_delivery(mailer: SmtpMailer, inbox: Inbox) -> None:
    mailer.send("alice@acme.test", "Keystile verification code", "Hello\n\n    123456\n")
    message = inbox.next()
    assert message["To"] == "alice@acme.test"
    assert message["From"] == "keystile@acme.test"
    assert message["Subject"] == "Keystile verification code"
    assert message["Message-ID"].endswith("@acme.test>")
    body = message.get_body(("plain",))
    assert body is not None and "123456" in body.get_content()


def test_starttls_with_login(
    starttls_server: int, certificate: tuple[Path, Path], inbox: Inbox
) -> None:
    config = SmtpConfig(
        sender=SENDER,
        host="127.0.0.1",
        port=starttls_server,
        security="starttls",
        username="keystile",
        password="right-password",
        cafile=str(certificate[0]),
    )
    SmtpMailer(config).send("alice@acme.test", "code", "    654321\n")
    assert inbox.next_code(to="alice@acme.test") == "654321"
    assert "right-password" not in repr(config)


def test_wrong_login_is_a_clear_error(starttls_server: int, certificate: tuple[Path, Path]) -> None:
    config = SmtpConfig(
        sender=SENDER,
        host="127.0.0.1",
        port=starttls_server,
        security="starttls",
        username="keystile",
        password="wrong",
        cafile=str(certificate[0]),
    )
    with pytest.raises(MailError, match="did not accept Keystile's login"):
        SmtpMailer(config).send("alice@acme.test", "code", "body")


def test_untrusted_certificate_is_refused(starttls_server: int) -> None:
    config = SmtpConfig(sender=SENDER, host="127.0.0.1", port=starttls_server, security="starttls")
    with pytest.raises(MailError, match="secure connection"):
        SmtpMailer(config).send("alice@acme.test", "code", "body")


def test_implicit_tls(ssl_server: int, certificate: tuple[Path, Path], inbox: Inbox) -> None:
    config = SmtpConfig(
        sender=SENDER, host="127.0.0.1", port=ssl_server, security="ssl", cafile=str(certificate[0])
    )
    SmtpMailer(config).send("alice@acme.test", "code", "    111222\n")
    assert inbox.next_code() == "111222"


def test_refused_recipient_says_so(mailer: SmtpMailer, inbox: Inbox) -> None:
    inbox.refuse_with = "550 5.1.1 mailbox unavailable"
    with pytest.raises(MailError, match=r"refused the address \(SMTP 550\)"):
        mailer.send("alice@acme.test", "code", "body")
    assert inbox.is_empty()


def test_header_injection_is_the_mailers_own_error(mailer: SmtpMailer, inbox: Inbox) -> None:
    with pytest.raises(MailError, match="the address is not valid"):
        mailer.send("alice@acme.test\r\nBcc: evil@attacker.test", "code", "    123456\n")
    assert inbox.is_empty()


def test_server_down_says_so() -> None:
    mailer = SmtpMailer(SmtpConfig(sender=SENDER, host="127.0.0.1", port=free_port(), timeout=2))
    with pytest.raises(MailError, match="cannot be reached"):
        mailer.send("alice@acme.test", "code", "body")


def test_config_from_the_smtp_table() -> None:
    config = SmtpConfig.from_mapping(
        {"host": "mail.acme.test", "port": 587, "security": "starttls", "sender": SENDER}
    )
    assert (config.host, config.port, config.security) == ("mail.acme.test", 587, "starttls")
    with pytest.raises(ConfigError, match="unknown"):
        SmtpConfig.from_mapping({"sender": SENDER, "hots": "x"})
    with pytest.raises(ConfigError, match="sender"):
        SmtpConfig.from_mapping({"host": "x"})
    with pytest.raises(ConfigError, match="security"):
        SmtpConfig(sender=SENDER, security="tls")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="go together"):
        SmtpConfig(sender=SENDER, username="keystile")


def test_configured_by_environment_variables(
    smtp_server: tuple[Inbox, int], inbox: Inbox, master_key: str, digest_secret: str
) -> None:
    settings = Settings.load(
        {
            "KEYSTILE_MASTER_KEYS": master_key,
            "KEYSTILE_DIGEST_SECRET": digest_secret,
            "KEYSTILE_SMTP_SENDER": "keystile@env.test",
            "KEYSTILE_SMTP_HOST": "127.0.0.1",
            "KEYSTILE_SMTP_PORT": str(smtp_server[1]),
            "KEYSTILE_SMTP_TIMEOUT": "5",
        }
    )
    config = SmtpConfig.from_mapping(settings.section("smtp", SmtpConfig))
    assert (config.port, config.timeout) == (smtp_server[1], 5.0)
    SmtpMailer(config).send("alice@acme.test", "Keystile verification code", "hello")
    assert inbox.next()["From"] == "keystile@env.test"
