"""TLS settings, checked at start-up; which tenant a verified client certificate (and a token sent with it)
makes; and the Python client's TLS options and their environment variables."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.integration.certs import CertificateAuthority
from vlmgrpc.errors import Code, ServiceError
from vlmgrpc.servicers.interceptor import Gate, load_cert_tenants
from vlmgrpc.settings import Settings
from vlmgrpc_client.transport import Settings as ClientSettings


@pytest.fixture(scope="module")
def pem(tmp_path_factory):
    root = tmp_path_factory.mktemp("pem")
    ca = CertificateAuthority("unit CA")
    (root / "ca.crt").write_bytes(ca.pem)
    ca.server().write(root, "server")
    ca.issue("alice").write(root, "alice")
    (root / "not-pem.txt").write_text("just text")
    return root


def test_tls_settings_that_make_a_working_server_are_accepted(pem):
    s = Settings(tls_cert_file=pem / "server.crt", tls_key_file=pem / "server.key",
                 tls_client_ca_file=pem / "ca.crt", tls_client_tenants="spiffe://x/a=alice, bob.example=bob")
    assert s.tls_client_ca_file == pem / "ca.crt"
    assert Settings(tls_cert_file="", tls_key_file="").tls_cert_file is None  # empty (an env var) = unset


@pytest.mark.parametrize("given,message", [
    ({"tls_cert_file": "server.crt"}, "tls_cert_file and tls_key_file go together"),
    ({"tls_key_file": "server.key"}, "tls_cert_file and tls_key_file go together"),
    ({"tls_client_ca_file": "ca.crt"}, "tls_client_ca_file (mutual TLS) needs the server's own tls_cert_file"),
    ({"tls_client_tenants": "alice=alice"}, "tls_client_tenants maps client certificates to tenants"),
    ({"tls_cert_file": "missing.crt", "tls_key_file": "server.key"}, "no such file"),
    ({"tls_cert_file": "not-pem.txt", "tls_key_file": "server.key"}, "is not a PEM file"),
    ({"tls_cert_file": "server.crt", "tls_key_file": "server.key", "tls_client_ca_file": "ca.crt",
      "tls_client_tenants": "alice"}, "entries are identity=tenant"),
])
def test_incomplete_or_wrong_tls_settings_fail_at_start_up(pem, given, message):
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings(**{k: (v if k == "tls_client_tenants" else pem / v) for k, v in given.items()})


def ssl_context(common_name: str = "", *sans: str) -> dict[str, list[bytes]]:
    """What gRPC's auth_context() holds for a verified client certificate."""
    return {"transport_security_type": [b"ssl"], "x509_common_name": [common_name.encode()],
            "x509_subject_alternative_name": [s.encode() for s in sans]}


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def refusal(gate: Gate, metadata, context) -> tuple[Code, str]:
    with pytest.raises(ServiceError) as caught:
        gate.tenant(metadata, context)
    return caught.value.code, caught.value.reason


def test_without_a_mapping_the_certificate_cn_is_the_tenant():
    gate = Gate({}, 8, cert_tenants={})
    assert gate.tenant((), ssl_context("alice", "alice.example")) == "alice"
    code, reason = refusal(gate, (), ssl_context("", "spiffe://x/nameless"))
    assert (code, reason) == (Code.PERMISSION_DENIED, "CERTIFICATE_NOT_ALLOWED")
    assert refusal(gate, (), {})[1] == "CERTIFICATE_NOT_ALLOWED"  # no TLS at all: no identity


def test_a_mapping_matches_the_cn_or_any_san_and_nothing_else():
    gate = Gate({}, 8, cert_tenants=load_cert_tenants("spiffe://x/a=alice,svc-b=bob"))
    assert gate.tenant((), ssl_context("", "dns.example", "spiffe://x/a")) == "alice"
    assert gate.tenant((), ssl_context("svc-b")) == "bob"
    assert refusal(gate, (), ssl_context("alice"))[1] == "CERTIFICATE_NOT_ALLOWED"  # its CN is not in the map


def test_a_token_with_a_certificate_must_agree_and_decides_for_a_certificate_without_a_tenant():
    gate = Gate({"tok-a": "alice", "tok-b": "bob"}, 8, cert_tenants={})
    assert gate.tenant((), ssl_context("alice")) == "alice"  # the certificate alone is enough
    assert gate.tenant(bearer("tok-a"), ssl_context("alice")) == "alice"
    assert refusal(gate, bearer("tok-b"), ssl_context("alice"))[1] == "TENANT_MISMATCH"
    assert refusal(gate, bearer("nope"), ssl_context("alice"))[1] == "INVALID_TOKEN"  # a sent token is checked
    assert gate.tenant(bearer("tok-b"), ssl_context("", "spiffe://x/gateway")) == "bob"
    assert refusal(gate, (), ssl_context("", "spiffe://x/gateway"))[1] == "MISSING_TOKEN"


def test_without_mutual_tls_tokens_work_as_before():
    gate = Gate({"tok-a": "alice"}, 8)
    assert gate.tenant(bearer("tok-a"), ssl_context("bob")) == "alice"  # a certificate means nothing here
    assert refusal(gate, (), None)[1] == "MISSING_TOKEN"
    assert Gate({}, 8).tenant((), None) == "default"


def test_the_client_takes_certificates_as_paths_bytes_or_environment(pem, monkeypatch):
    for name in ("VLMGRPC_TLS", "VLMGRPC_CA_CERT", "VLMGRPC_CLIENT_CERT", "VLMGRPC_CLIENT_KEY",
                 "VLMGRPC_TLS_SERVER_NAME"):
        monkeypatch.delenv(name, raising=False)
    assert ClientSettings("h:1").credentials is None  # plaintext unless asked
    assert ClientSettings("h:1", tls=True).credentials is not None  # the system's CAs
    assert ClientSettings("h:1", root_certificates=(pem / "ca.crt").read_bytes()).credentials is not None
    named = ClientSettings("h:1", root_certificates=str(pem / "ca.crt"), server_name="localhost")
    assert ("grpc.ssl_target_name_override", "localhost") in named.options
    with pytest.raises(ValueError, match="private key"):
        ClientSettings("h:1", certificate_chain=pem / "alice.crt")
    with pytest.raises(ValueError, match="tls=False"):
        ClientSettings("h:1", tls=False, root_certificates=pem / "ca.crt")
    monkeypatch.setenv("VLMGRPC_CA_CERT", str(pem / "ca.crt"))
    monkeypatch.setenv("VLMGRPC_CLIENT_CERT", str(pem / "alice.crt"))
    assert pytest.raises(ValueError, ClientSettings, "h:1").match("private key")  # the env's pair is checked too
    monkeypatch.setenv("VLMGRPC_CLIENT_KEY", str(pem / "alice.key"))
    assert ClientSettings("h:1").credentials is not None
    assert ClientSettings("h:1", tls=False).credentials is None  # an explicit no wins over the environment
    monkeypatch.setenv("VLMGRPC_CA_CERT", str(pem / "missing.crt"))
    with pytest.raises(FileNotFoundError):
        ClientSettings("h:1")
