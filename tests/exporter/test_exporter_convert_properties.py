"""Property test: any attribute values survive span -> Parquet -> reader unchanged."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otelytics.exporter.convert import encode_value, spans_to_table
from otelytics.exporter.schema import PROMOTED_SPAN_ATTRIBUTES
from otelytics.exporter.writer import write_file

_PROMOTED = {p.attribute for p in PROMOTED_SPAN_ATTRIBUTES}
_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
_scalar = st.one_of(_text, st.booleans(), st.integers(-(2**63), 2**63 - 1),
                    st.floats(allow_nan=False, allow_infinity=False))
_value = st.one_of(_scalar, st.lists(_text, max_size=4).map(tuple),
                   st.lists(st.integers(-(2**63), 2**63 - 1), max_size=4).map(tuple))
_key = _text.filter(lambda k: k and k not in _PROMOTED)

_exporter = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(_exporter))
_tracer = _provider.get_tracer("prop")


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(attrs=st.dictionaries(_key, _value, max_size=8), name=_text)
def test_attributes_round_trip_through_parquet(tmp_path, attrs, name):
    _exporter.clear()
    with _tracer.start_as_current_span(name) as span:
        span.set_attributes(attrs)
    (s,) = _exporter.get_finished_spans()
    path = write_file(str(tmp_path), "spans", spans_to_table([s]))
    row = pq.read_table(path).to_pylist()[0]
    stored = dict(row["attributes"])
    assert row["name"] == name
    assert stored == {k: encode_value(v) for k, v in s.attributes.items()}
    for k, v in s.attributes.items():  # and the JSON decodes back to the value
        if not isinstance(v, str):
            assert json.loads(stored[k]) == (list(v) if isinstance(v, tuple) else v)
