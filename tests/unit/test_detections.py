"""Every finding kind from packets alone, through the same pipeline `run` and `analyze` use."""

from __future__ import annotations

from dataclasses import replace

from egressguard.policy.loader import KiB, Limits, MiB, Policy
from tests.unit.conftest import judge, kinds
from tests.unit.packets import client_hello, connection, dns_answer, dns_query

INDEX = "198.18.1.10"
EVIL = "198.18.2.10"


def resolved(name: str, address: str, sport: int = 40000) -> list[object]:
    return [dns_query(name, sport=sport), dns_answer(name, address, sport=sport)]


def test_allowed_download_raises_nothing(policy: Policy) -> None:
    packets = [
        *resolved("files.pythonhosted.org", INDEX),
        *connection(INDEX, 443, client_hello("files.pythonhosted.org"), upload=3000),
    ]
    monitor = judge(packets, policy)
    assert monitor.findings == []
    (flow,) = monitor.table.summaries()
    assert (flow.host, flow.protocol, flow.named_by, flow.bytes_out) == (
        "files.pythonhosted.org",
        "tls",
        "sni",
        3000 + len(client_hello("files.pythonhosted.org")),
    )


def test_typosquat_is_flagged_at_the_dns_query(policy: Policy) -> None:
    monitor = judge([dns_query("files.pythonhosted-cdn.org")], policy)
    (finding,) = monitor.findings
    assert (finding.kind, finding.host) == ("typosquat", "files.pythonhosted-cdn.org")
    assert dict(finding.evidence)["similar_to"] == "pythonhosted.org"
    assert finding.severity.is_violation


def test_known_bad_host_and_address(policy: Policy) -> None:
    monitor = judge(
        [dns_query("scan.aquasecurtiy.org"), *connection("45.148.10.212", 443, client_hello(None))],
        policy,
    )
    assert ("known-bad", "scan.aquasecurtiy.org") in kinds(monitor)
    assert ("known-bad", "45.148.10.212") in kinds(monitor)


def test_unlisted_host_once_however_many_connections(policy: Policy) -> None:
    packets = resolved("telemetry.example.net", EVIL)
    for n in range(5):
        packets += connection(EVIL, 443, client_hello("telemetry.example.net"), sport=50000 + n)
    assert kinds(judge(packets, policy)) == [("unlisted-host", "telemetry.example.net")]


def test_direct_ip_connection(policy: Policy) -> None:
    monitor = judge(
        connection("198.18.3.30", 8080, b"POST / HTTP/1.1\r\nHost: 198.18.3.30:8080\r\n\r\n"),
        policy,
    )
    (finding,) = monitor.findings
    assert (finding.kind, finding.ip, finding.port) == ("direct-ip", "198.18.3.30", 8080)


def test_allowed_cidr_is_not_direct_ip(policy: Policy) -> None:
    from ipaddress import ip_network

    widened = replace(policy, allow_networks=(ip_network("198.18.3.0/24"),))
    assert judge(connection("198.18.3.30", 8080, b"GET / HTTP/1.1\r\n\r\n"), widened).findings == []


def _index_upload(size: int) -> list[object]:
    return [
        *resolved("files.pythonhosted.org", INDEX),
        *connection(INDEX, 443, client_hello("files.pythonhosted.org"), upload=size),
    ]


def test_large_upload_to_an_allowlisted_host(policy: Policy) -> None:
    tight = replace(policy, limits=Limits(upload_allowed=100 * KiB))
    (finding,) = judge(_index_upload(120 * KiB), tight).findings
    assert (finding.kind, finding.host) == ("large-upload", "files.pythonhosted.org")
    assert dict(finding.evidence)["limit"] == 100 * KiB
    assert judge(_index_upload(90 * KiB), tight).findings == []


def test_per_host_limit_overrides_the_default(policy: Policy) -> None:
    tight = replace(
        policy, limits=Limits(upload_allowed=100 * KiB, hosts=(("*.pythonhosted.org", 200 * KiB),))
    )
    assert judge(_index_upload(120 * KiB), tight).findings == []
    assert kinds(judge(_index_upload(220 * KiB), tight)) == [
        ("large-upload", "files.pythonhosted.org")
    ]


def test_small_uploads_to_an_unknown_host_add_up(policy: Policy) -> None:
    packets = resolved("collector.example.net", EVIL)
    for n in range(30):
        packets += connection(
            EVIL, 443, client_hello("collector.example.net"), upload=3000, sport=51000 + n
        )
    assert ("large-upload", "collector.example.net") in kinds(judge(packets, policy))


def test_retransmitted_segments_count_once(policy: Policy) -> None:
    packets = [
        *resolved("files.pythonhosted.org", INDEX),
        *connection(INDEX, 443, client_hello("files.pythonhosted.org"), upload=2800),
    ]
    packets += packets[-2:]  # the last two data segments again
    monitor = judge(packets, policy)
    (flow,) = monitor.table.summaries()
    assert flow.bytes_out == 2800 + len(client_hello("files.pythonhosted.org"))


def test_hex_labels_are_dns_exfil(policy: Policy) -> None:
    name = "4a6f686e20446f653a2070617373776f7264.c1.tunnel.example.net"
    (finding,) = judge([dns_query(name)], policy).findings
    assert (finding.kind, finding.host) == ("dns-exfil", "example.net")


def test_many_unique_names_under_one_zone_are_dns_exfil(policy: Policy) -> None:
    queries = [dns_query(f"n{i}.data.example.org", sport=41000 + i) for i in range(40)]
    assert kinds(judge(queries, policy)) == [("dns-exfil", "example.org")]


def test_allowlisted_names_are_never_dns_exfil(policy: Policy) -> None:
    name = "docker-images-prod.6aa30f8b08e16409b46e0173d6de2f56.r2.cloudflarestorage.com"
    assert judge([dns_query(name)], policy).findings == []


def test_dns_to_another_resolver_is_bypass(policy: Policy) -> None:
    monitor = judge([dns_query("pypi.org", resolver="198.18.9.9")], policy)
    assert kinds(monitor) == [("dns-bypass", "pypi.org")]


def test_dns_over_tls_and_https_are_bypass(policy: Policy) -> None:
    dot = connection("198.18.9.9", 853, client_hello("dns.example"))
    doh = [
        *resolved("dns.google", "198.18.9.8"),
        *connection("198.18.9.8", 443, client_hello("dns.google")),
    ]
    found = {kind for kind, _ in kinds(judge([*dot, *doh], policy))}
    assert "dns-bypass" in found
    assert kinds(judge(connection("8.8.8.8", 443, client_hello(None)), policy)) == [
        ("dns-bypass", "8.8.8.8")
    ]


def test_search_domain_expansions_are_judged_as_the_name(policy: Policy) -> None:
    query = dns_query("files.pythonhosted.org.corp.example")
    assert judge([query], policy, search=("corp.example",)).findings == []


def test_sni_that_disagrees_with_dns_is_judged_too(policy: Policy) -> None:
    packets = [
        *resolved("pypi.org", INDEX),
        *connection(INDEX, 443, client_hello("models.litellm-ai.cloud")),
    ]
    assert ("typosquat", "models.litellm-ai.cloud") in kinds(judge(packets, policy))


def test_ipv6_flows_are_named_and_judged(policy: Policy) -> None:
    packets = [
        dns_query("pypi.org", client="fd00::2", resolver="fd00::1"),
        dns_answer("pypi.org", "fd00::10", client="fd00::2", resolver="fd00::1"),
        *connection("fd00::10", 443, client_hello("pypi.org"), client="fd00::2"),
    ]
    monitor = judge(packets, policy, resolvers=("fd00::1",))
    assert monitor.findings == []
    (flow,) = monitor.table.summaries()
    assert (flow.host, flow.dns_named) == ("pypi.org", True)


def test_default_limits(policy: Policy) -> None:
    assert (policy.limits.upload_unlisted, policy.limits.upload_allowed) == (64 * KiB, 5 * MiB)


def test_metadata_service_by_address_and_by_name(policy: Policy) -> None:
    by_address = judge(connection("169.254.169.254", 80, b"GET / HTTP/1.1\r\n\r\n"), policy)
    assert ("metadata-access", "169.254.169.254") in kinds(by_address)
    by_name = judge([dns_query("metadata.google.internal")], policy)
    assert ("metadata-access", "metadata.google.internal") in kinds(by_name)


def test_credentials_in_cleartext_http_and_dns(policy: Policy) -> None:
    post = b"POST /x HTTP/1.1\r\nHost: 198.18.3.30\r\n\r\ntoken=ghp_" + b"a" * 36
    found = judge(connection("198.18.3.30", 80, post), policy).findings
    secret = next(f for f in found if f.kind == "secret-in-cleartext")
    assert dict(secret.evidence)["pattern"] == "github-token"
    assert b"ghp_" not in secret.message.encode()
    in_dns = judge([dns_query("akiaiosfodnn7example.AKIAIOSFODNN7EXAMPLE.evil.example")], policy)
    assert "secret-in-cleartext" in {k for k, _ in kinds(in_dns)}


def test_encrypted_payloads_are_not_scanned(policy: Policy) -> None:
    hello = client_hello("files.pythonhosted.org")
    packets = [
        *resolved("files.pythonhosted.org", INDEX),
        *connection(INDEX, 443, hello + b"AKIAIOSFODNN7EXAMPLE"),
    ]
    assert judge(packets, policy).findings == []


def test_canaries_are_caught_plain_hex_and_base64(policy: Policy) -> None:
    import base64

    from egressguard.policy.canaries import canary_patterns, make_canaries
    from egressguard.policy.judge import Judge, ResolverSet

    fakes = make_canaries()
    token = fakes["NPM_TOKEN"].encode()
    assert fakes["AWS_ACCESS_KEY_ID"].startswith("AKIA") and len(fakes["GITHUB_TOKEN"]) == 40
    for body in (token, token.hex().encode(), base64.b64encode(token)):
        judge_ = Judge(policy, ResolverSet({"198.18.0.1"}))
        judge_.add_secret_patterns(canary_patterns(fakes))
        from egressguard.capture.memory import MemorySource
        from egressguard.flows.table import FlowTable
        from egressguard.pipeline import Monitor

        monitor = Monitor(judge_, FlowTable())
        post = b"POST / HTTP/1.1\r\nHost: 198.18.3.30\r\n\r\n" + body
        monitor.consume(MemorySource.from_scapy(connection("198.18.3.30", 80, post)))
        patterns = {dict(f.evidence).get("pattern") for f in monitor.findings}
        assert "canary NPM_TOKEN" in patterns, body
