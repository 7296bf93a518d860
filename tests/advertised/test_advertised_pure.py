"""The pure side of advertised listeners: mapping, listener lists, server.properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from msk_privatelink.advertised.listeners import (
    CUSTOM_ADVERTISED_LISTENERS,
    AdvertisedListenersError,
    build_mapping,
    custom_listeners_value,
    properties_with,
    property_value,
    same_listeners,
    split_listeners,
    with_client_entries,
)
from msk_privatelink.kernel.models import AuthScheme

DOMAIN = "orders.abc123.c2.kafka.us-east-1.amazonaws.com"
BASES = {AuthScheme.SASL_IAM: 9000, AuthScheme.TLS: 8440, AuthScheme.SASL_SCRAM: 8640}
HOSTS = {1: f"b-1.{DOMAIN}", 2: f"b-2.{DOMAIN}", 3: f"b-3.{DOMAIN}"}


def test_mapping_gives_each_broker_its_own_host_and_base_plus_id() -> None:
    mapping = build_mapping([AuthScheme.SASL_IAM, AuthScheme.TLS], BASES, HOSTS)

    assert mapping.schemes == (AuthScheme.TLS, AuthScheme.SASL_IAM)
    assert mapping.broker_ids == (1, 2, 3)
    assert mapping.broker(2).endpoint(AuthScheme.SASL_IAM) == f"b-2.{DOMAIN}:9002"
    assert mapping.client_entries(3) == {
        "CLIENT_SECURE": f"CLIENT_SECURE://b-3.{DOMAIN}:8443",
        "CLIENT_IAM": f"CLIENT_IAM://b-3.{DOMAIN}:9003",
    }


def test_custom_entries_follow_the_documented_template() -> None:
    mapping = build_mapping([AuthScheme.SASL_IAM, AuthScheme.SASL_SCRAM], BASES, HOSTS)

    assert custom_listeners_value(None, mapping) == (
        f"CLIENT_SASL_SCRAM://b-{{broker_id}}.{DOMAIN}:8640+{{broker_id}},"
        f"CLIENT_IAM://b-{{broker_id}}.{DOMAIN}:9000+{{broker_id}}"
    )


def test_custom_value_keeps_non_client_entries_and_drops_unexposed_client_ones() -> None:
    mapping = build_mapping([AuthScheme.SASL_IAM], BASES, HOSTS)
    current = "CLIENT_SECURE://x-{broker_id}.example.com:7000+{broker_id},OTHER://o:1"

    assert custom_listeners_value(current, mapping) == (
        f"CLIENT_IAM://b-{{broker_id}}.{DOMAIN}:9000+{{broker_id}},OTHER://o:1"
    )


@pytest.mark.parametrize(
    "hosts",
    [
        {1: f"b-1.{DOMAIN}", 2: "b-2.other.example.com"},
        {1: f"b-2.{DOMAIN}"},
        {1: "broker-one.example.com"},
    ],
)
def test_hosts_that_no_single_pattern_expresses_are_refused(hosts: dict[int, str]) -> None:
    mapping = build_mapping([AuthScheme.SASL_IAM], BASES, hosts)
    with pytest.raises(AdvertisedListenersError):
        mapping.custom_listener_entries()


@pytest.mark.parametrize(
    ("schemes", "bases", "hosts"),
    [
        ([], BASES, HOSTS),
        ([AuthScheme.PLAINTEXT], BASES, HOSTS),
        ([AuthScheme.SASL_IAM], BASES, {}),
        ([AuthScheme.SASL_IAM], {AuthScheme.SASL_IAM: 65535}, HOSTS),
        ([AuthScheme.SASL_IAM], BASES, {1: "b-1.x:9098"}),
    ],
)
def test_bad_mapping_input_is_refused(
    schemes: list[AuthScheme], bases: dict[AuthScheme, int], hosts: dict[int, str]
) -> None:
    with pytest.raises(AdvertisedListenersError):
        build_mapping(schemes, bases, hosts)


def test_only_the_client_entry_is_replaced_byte_for_byte() -> None:
    current = (
        "CLIENT_IAM://b-1.x.amazonaws.com:9098,REPLICATION://b-1-internal.x:9093,"
        "CLIENT_IAM_VPCE://v:14001,REPLICATION_SECURE://b-1-internal.x:9095"
    )
    wanted = {"CLIENT_IAM": "CLIENT_IAM://b-1.x.amazonaws.com:9001"}

    changed = with_client_entries(current, wanted)

    assert changed == (
        "CLIENT_IAM://b-1.x.amazonaws.com:9001,REPLICATION://b-1-internal.x:9093,"
        "CLIENT_IAM_VPCE://v:14001,REPLICATION_SECURE://b-1-internal.x:9095"
    )
    assert with_client_entries(changed, wanted) == changed


def test_a_listener_the_broker_lacks_is_refused() -> None:
    with pytest.raises(AdvertisedListenersError, match="CLIENT_IAM"):
        with_client_entries("CLIENT://h:9092,REPLICATION://h:9093", {"CLIENT_IAM": "x"})
    with pytest.raises(AdvertisedListenersError):
        split_listeners("CLIENT:h:9092")


def test_same_listeners_ignores_order_and_spaces() -> None:
    assert same_listeners("A://a:1, B://b:2", "B://b:2,A://a:1")
    assert not same_listeners("A://a:1", "A://a:2")
    assert not same_listeners(None, "A://a:1")


OURS = "CLIENT_IAM://b-{broker_id}.d:9000+{broker_id}"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (b"", f"{CUSTOM_ADVERTISED_LISTENERS}={OURS}\n".encode()),
        (b"a=1", f"a=1\n{CUSTOM_ADVERTISED_LISTENERS}={OURS}\n".encode()),
        (b"a=1\r\nb = 2\r\n", f"a=1\r\nb = 2\r\n{CUSTOM_ADVERTISED_LISTENERS}={OURS}\r\n".encode()),
        (
            b"# keep me\na=1\ncustom.advertised.listeners = OLD://x:1+{broker_id}\nz:9\n",
            f"# keep me\na=1\n{CUSTOM_ADVERTISED_LISTENERS}={OURS}\nz:9\n".encode(),
        ),
        (
            b"custom.advertised.listeners=OLD://x:1,\\\n    MORE://y:2\nb=2\n",
            f"{CUSTOM_ADVERTISED_LISTENERS}={OURS}\nb=2\n".encode(),
        ),
        (
            b"custom.advertised.listeners=A\nb=2\ncustom.advertised.listeners=B",
            f"{CUSTOM_ADVERTISED_LISTENERS}={OURS}\nb=2\n".encode(),
        ),
        (
            b"x=long \\\ncustom.advertised.listeners=not-a-key\n",
            b"x=long \\\ncustom.advertised.listeners=not-a-key\n"
            + f"{CUSTOM_ADVERTISED_LISTENERS}={OURS}\n".encode(),
        ),
    ],
)
def test_properties_with_touches_only_our_key(before: bytes, after: bytes) -> None:
    assert properties_with(before, CUSTOM_ADVERTISED_LISTENERS, OURS) == after
    assert property_value(after, CUSTOM_ADVERTISED_LISTENERS) == OURS
    assert properties_with(after, CUSTOM_ADVERTISED_LISTENERS, OURS) == after


def test_property_value_reads_separators_and_continuations() -> None:
    blob = b"a = 1\nb:2\nc 3\nd=x,\\\n   y\n# e=5\n"
    assert [property_value(blob, k) for k in "abcde"] == ["1", "2", "3", "x,y", None]


_KEY = st.from_regex(r"[a-z][a-z.]{0,12}", fullmatch=True).filter(
    lambda k: k != CUSTOM_ADVERTISED_LISTENERS
)
_LINE = st.one_of(
    st.tuples(_KEY, st.sampled_from(["=", " = ", ":", " "]), st.from_regex(r"[ -~]{0,20}")).map(
        lambda t: f"{t[0]}{t[1]}{t[2].rstrip(chr(92))}"
    ),
    st.from_regex(r"#[ -~]{0,20}", fullmatch=True),
    st.just(""),
)


@given(lines=st.lists(_LINE, max_size=12), newline=st.sampled_from(["\n", "\r\n"]))
def test_every_other_line_survives_byte_for_byte(lines: list[str], newline: str) -> None:
    blob = newline.join(lines).encode() + (newline.encode() if lines else b"")

    edited = properties_with(blob, CUSTOM_ADVERTISED_LISTENERS, OURS)

    # An empty file has no line-end style of its own: "\n".
    ending = newline if lines else "\n"
    assert edited.startswith(blob)
    assert edited[len(blob) :] == f"{CUSTOM_ADVERTISED_LISTENERS}={OURS}{ending}".encode()
