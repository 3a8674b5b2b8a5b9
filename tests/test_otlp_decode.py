"""The OTLP decoder and flattener, in process, against inputs hypothesis makes up: the two encodings of a
request flatten alike, every span is kept or counted as rejected exactly once, values survive whole."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from otlp_support import protobuf, span, traces

from lakehouse.core.errors import OtlpRequestError
from lakehouse.otlp import decode, store

pytestmark = pytest.mark.fast

scalars = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
attribute_maps = st.dictionaries(st.text(min_size=1, max_size=30), values, max_size=6)


@st.composite
def requests(draw: Any) -> tuple[dict[str, Any], int]:
    """A trace request of random spans (some without a valid trace id) and how many are valid."""
    count = draw(st.integers(min_value=0, max_value=5))
    spans, valid = [], 0
    for i in range(count):
        zero_trace = draw(st.booleans()) and draw(st.booleans())
        trace_id = "00" * 16 if zero_trace else draw(st.binary(min_size=16, max_size=16)).hex() or "01" * 16
        if not zero_trace and trace_id == "00" * 16:
            trace_id = "01" * 16
        span_id = f"{i + 1:016x}"
        start = draw(st.integers(min_value=1, max_value=2**62))
        spans.append(
            span(
                trace_id,
                span_id,
                draw(st.text(max_size=20)),
                draw(attribute_maps),
                start_ns=start,
                duration_ns=draw(st.integers(min_value=0, max_value=10**12)),
            )
        )
        valid += not zero_trace
    return traces(spans), valid


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_both_encodings_flatten_alike_and_every_span_is_accounted_for(
    request: tuple[dict[str, Any], int],
) -> None:
    document, valid = request
    from_json = decode.flattened("traces", decode.parse("traces", json.dumps(document).encode(), "json"))
    from_protobuf = decode.flattened("traces", decode.parse("traces", protobuf(document), "protobuf"))
    assert from_json.records == from_protobuf.records
    sent = len(document["resourceSpans"][0]["scopeSpans"][0]["spans"])
    assert len(from_json.records) == valid and from_json.rejected == sent - valid
    for record in from_json.records:
        assert json.loads(store.line_of(record)) == record  # one JSON line, read back whole


@settings(max_examples=150, deadline=None)
@given(attribute_maps)
def test_attribute_values_survive_as_plain_json(attributes: dict[str, Any]) -> None:
    document = traces([span("ab" * 16, "cd" * 8, "x", attributes)])
    (record,) = decode.flattened("traces", decode.parse("traces", protobuf(document), "protobuf")).records
    assert record["attributes"] == attributes  # integers exact, nesting kept


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_are_a_request_or_a_400(body: bytes) -> None:
    for media in ("protobuf", "json"):
        try:
            result = decode.flattened("traces", decode.parse("traces", body, media))
        except OtlpRequestError as exc:
            assert exc.status == 400
        else:
            assert result.rejected >= 0


def test_gzip_is_undone_within_the_limit_only() -> None:
    body = protobuf(traces([span("ab" * 16, "cd" * 8, "x", {})]))
    assert decode.inflate(gzip.compress(body), "gzip", 1024) == body
    with pytest.raises(OtlpRequestError) as caught:
        decode.inflate(gzip.compress(b"\0" * 4096), "gzip", 1024)
    assert caught.value.status == 413
    for nested in (b"[" * 100_000, b'{"resourceSpans": ' + b"[" * 5000 + b"]" * 5000 + b"}"):
        with pytest.raises(OtlpRequestError) as caught:
            decode.parse("traces", nested, "json")
        assert caught.value.status == 400


def test_legacy_instrumentation_library_spans_and_base64_ids_are_read() -> None:
    legacy = {
        "resourceSpans": [
            {
                "instrumentationLibrarySpans": [
                    {
                        "instrumentationLibrary": {"name": "old"},
                        "spans": [span("q83vEjRWeJCrze8SNFZ4kA==", "q83vEjRWeJA=", "x", {})],
                    }
                ]
            }
        ]
    }
    (record,) = decode.flattened("traces", decode.from_json("traces", legacy)).records
    assert (record["trace_id"], record["span_id"], record["scope"]["name"]) == (
        "abcdef1234567890abcdef1234567890",
        "abcdef1234567890",
        "old",
    )


def test_an_append_cuts_off_the_torn_line_a_killed_writer_left(tmp_path: Path) -> None:
    stream = tmp_path / "otel_spans.jsonl"
    stream.write_bytes(b'{"span_id":"a"}\n{"span_id":"b","na')  # killed mid-write: never acknowledged
    store.append(stream, b'{"span_id":"c"}\n')
    assert stream.read_bytes() == b'{"span_id":"a"}\n{"span_id":"c"}\n'
    stream.write_bytes(b'{"no newline at all"')
    store.append(stream, b'{"span_id":"d"}\n')
    assert stream.read_bytes() == b'{"span_id":"d"}\n'
