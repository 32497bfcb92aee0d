"""TLS and mutual TLS, end to end: the real server with certificates of a CA the test makes, the Python client
and vlmctl with the matching options. Plaintext, untrusting, certificate-less, untrusted and expired clients are
refused; under mTLS the client certificate names the tenant, and a bearer token sent with it must agree."""

from __future__ import annotations

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.conftest import TEST_SETTINGS, ServerProcess, text_png
from tests.integration.certs import CertificateAuthority
from tests.integration.test_cli import vlmctl
from vlmgrpc.inference.embedded import EmbeddedTriton
from vlmgrpc.settings import REPO_ROOT
from vlmgrpc_client import AsyncVLMClient, RetryPolicy, VLMClient, cli, errors

pytestmark = pytest.mark.integration
ONCE = RetryPolicy(max_attempts=1)  # a refused handshake is UNAVAILABLE: no point retrying it here


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """PEM files: ca, server (localhost, 127.0.0.1), clients alice and bob (CN), nameless (no CN, a SPIFFE id
    only), alice-expired, and rogue (CN alice, signed by another CA) with rogue-ca."""
    root = tmp_path_factory.mktemp("pki")
    ca, other = CertificateAuthority("vlm-grpc test CA"), CertificateAuthority("somebody else's CA")
    (root / "ca.crt").write_bytes(ca.pem)
    (root / "rogue-ca.crt").write_bytes(other.pem)
    ca.server().write(root, "server")
    ca.issue("alice").write(root, "alice")
    ca.issue("bob").write(root, "bob")
    ca.issue("", uris=("spiffe://vlm.test/gateway",)).write(root, "nameless")
    ca.issue("alice", expired=True).write(root, "alice-expired")
    other.issue("alice").write(root, "rogue")
    return root


@pytest.fixture(scope="module")
async def triton(tmp_path_factory):
    """One Triton for both servers of this module."""
    embedded = EmbeddedTriton(REPO_ROOT / "triton_models", tmp_path_factory.mktemp("tls-triton"),
                              models={"ocr": {}})
    await embedded.start()
    yield embedded
    await embedded.stop()


def _server(tmp_path_factory, triton, pki, name: str, **settings) -> ServerProcess:
    return ServerProcess(tmp_path_factory.mktemp(name), **TEST_SETTINGS, triton_url=triton.grpc_url, models="ocr",
                         tls_cert_file=pki / "server.crt", tls_key_file=pki / "server.key", **settings).start()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, triton, pki):
    srv = _server(tmp_path_factory, triton, pki, "tls")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def mtls_server(tmp_path_factory, triton, pki):
    srv = _server(tmp_path_factory, triton, pki, "mtls", tls_client_ca_file=pki / "ca.crt",
                  auth_tokens="tok-a=alice,tok-b=bob")
    yield srv
    srv.stop()


def client(srv: ServerProcess, pki, cert: str | None = None, **kwargs) -> VLMClient:
    """A client of `srv` that trusts the test CA, with the client certificate `cert` (a name in `pki`)."""
    mine = {"certificate_chain": pki / f"{cert}.crt", "private_key": pki / f"{cert}.key"} if cert else {}
    return VLMClient(srv.target, root_certificates=pki / "ca.crt", retry=ONCE, **{"timeout": 20, **mine, **kwargs})


def refused(make) -> errors.VLMError:
    """The error of a call by the client `make()` builds; the handshake failing makes it UNAVAILABLE."""
    with make() as c, pytest.raises(errors.UnavailableError) as caught:
        c.models.list()
    return caught.value


# --- TLS


def test_a_client_that_trusts_the_ca_gets_answers_over_tls(tls_server, pki):
    with client(tls_server, pki) as c:
        p = c.image.generate(images=[text_png(["Sealed in transit"])], domain="document.ocr")
        assert p.status == "completed" and "Sealed in transit" in p.response["text"]
    # The name checked against the certificate can differ from the address dialled.
    with client(tls_server, pki, server_name="localhost") as c:
        assert [m.id for m in c.models.list()] == ["ocr"]


async def test_the_async_client_speaks_tls_too(tls_server, pki):
    async with AsyncVLMClient(tls_server.target, root_certificates=(pki / "ca.crt").read_bytes()) as c:
        assert [m.id for m in await c.models.list()] == ["ocr"]


def test_a_plaintext_client_is_refused(tls_server, pki):
    refused(lambda: VLMClient(tls_server.target, tls=False, retry=ONCE, timeout=10))


def test_a_client_that_does_not_trust_the_server_certificate_is_refused(tls_server, pki):
    refused(lambda: VLMClient(tls_server.target, root_certificates=pki / "rogue-ca.crt", retry=ONCE, timeout=10))
    # Trusted CA, but the certificate is not for that name.
    refused(lambda: client(tls_server, pki, server_name="elsewhere.example", timeout=10))


# --- mutual TLS


def test_mtls_refuses_a_client_without_a_certificate_even_with_a_valid_token(mtls_server, pki):
    refused(lambda: client(mtls_server, pki, token="tok-a", timeout=10))
    refused(lambda: VLMClient(mtls_server.target, tls=False, token="tok-a", retry=ONCE, timeout=10))


def test_mtls_refuses_a_certificate_from_an_untrusted_ca(mtls_server, pki):
    refused(lambda: client(mtls_server, pki, "rogue", timeout=10))


def test_mtls_refuses_an_expired_certificate(mtls_server, pki):
    refused(lambda: client(mtls_server, pki, "alice-expired", timeout=10))


def test_the_client_certificate_names_the_tenant(mtls_server, pki):
    with client(mtls_server, pki, "alice") as alice, client(mtls_server, pki, "bob") as bob:
        p = alice.image.generate(images=[text_png(["Alice only"])], domain="document.ocr")
        assert p.status == "completed"
        assert alice.predictions.get(p.id).id == p.id
        with pytest.raises(errors.NotFoundError):
            bob.predictions.get(p.id)
        assert p.id not in [q.id for q in bob.predictions.list()]
        # Health stays open to any client the transport admitted.
        health = health_pb2_grpc.HealthStub(bob._t.channel)
        assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING


def test_a_token_sent_with_a_certificate_must_name_the_same_tenant(mtls_server, pki):
    with client(mtls_server, pki, "alice") as alice:
        p = alice.image.generate(images=[text_png(["Agreed"])], domain="document.ocr")
    with client(mtls_server, pki, "alice", token="tok-a") as agreed:
        assert agreed.predictions.get(p.id).id == p.id
    with client(mtls_server, pki, "alice", token="tok-b") as mismatch, \
            pytest.raises(errors.PermissionDeniedError) as caught:
        mismatch.predictions.get(p.id)
    assert caught.value.reason == "TENANT_MISMATCH"
    with client(mtls_server, pki, "alice", token="stolen?") as wrong, \
            pytest.raises(errors.AuthenticationError) as caught:
        wrong.predictions.get(p.id)
    assert caught.value.reason == "INVALID_TOKEN"


def test_a_certificate_that_names_no_tenant_needs_a_token_which_then_decides(mtls_server, pki):
    with client(mtls_server, pki, "nameless") as anonymous, pytest.raises(errors.AuthenticationError) as caught:
        anonymous.predictions.list()
    assert caught.value.reason == "MISSING_TOKEN"
    with client(mtls_server, pki, "bob") as bob:
        p = bob.image.generate(images=[text_png(["Bob via gateway"])], domain="document.ocr")
    with client(mtls_server, pki, "nameless", token="tok-b") as as_bob, \
            client(mtls_server, pki, "nameless", token="tok-a") as as_alice:
        assert as_bob.predictions.get(p.id).id == p.id
        with pytest.raises(errors.NotFoundError):
            as_alice.predictions.get(p.id)


# --- vlmctl


def test_vlmctl_connects_with_the_tls_flags_or_their_environment(mtls_server, pki):
    flags = ["--ca-cert", str(pki / "ca.crt"), "--client-cert", str(pki / "alice.crt"),
             "--client-key", str(pki / "alice.key")]
    run = vlmctl(*flags, "models", "--json", target=mtls_server.target)
    assert run.returncode == cli.OK, run.stderr
    assert '"ocr"' in run.stdout
    env = {"VLMGRPC_CA_CERT": str(pki / "ca.crt"), "VLMGRPC_CLIENT_CERT": str(pki / "alice.crt"),
           "VLMGRPC_CLIENT_KEY": str(pki / "alice.key")}
    run = vlmctl("list", "--json", target=mtls_server.target, env=env)
    assert run.returncode == cli.OK, run.stderr
    # Without a client certificate the handshake fails: the server is unreachable to it.
    run = vlmctl("--ca-cert", str(pki / "ca.crt"), "--retries", "1", "--timeout", "10", "models",
                 target=mtls_server.target)
    assert run.returncode == cli.UNREACHABLE, run.stderr
    run = vlmctl("--ca-cert", str(pki / "ca.crt"), "--client-cert", str(pki / "alice.crt"), "models",
                 target=mtls_server.target)
    assert run.returncode == cli.BAD_INPUT and "private key" in run.stderr
    run = vlmctl("--ca-cert", str(pki / "missing.crt"), "models", target=mtls_server.target)
    assert run.returncode == cli.BAD_INPUT and "missing.crt" in run.stderr
