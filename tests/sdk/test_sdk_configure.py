"""configure(): precedence, validation, idempotence, and respect for an existing set-up.

Each case runs in a fresh interpreter: the global OpenTelemetry providers can be set once.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from otelytics import ConfigError
from otelytics._settings import Settings, resolve_settings

_COLLECT = textwrap.dedent("""
    import json, otelytics
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
""")


def test_keyword_beats_environment_beats_default(monkeypatch):
    monkeypatch.setenv("OTELYTICS_CAPTURE_PARAMS", "true")
    monkeypatch.setenv("OTELYTICS_MAX_PARAM_LENGTH", "99")
    monkeypatch.setenv("OTELYTICS_SAMPLE_RATIO", "0.25")
    s = resolve_settings(max_param_length=10)
    assert s.capture_params is True  # from the environment
    assert s.max_param_length == 10  # keyword wins
    assert s.sample_ratio == 0.25
    assert s.capture_memory is Settings().capture_memory is False  # default


def test_bad_keyword_values_raise_naming_the_option():
    with pytest.raises(ConfigError, match=r"sample_ratio=2"):
        resolve_settings(sample_ratio=2)
    with pytest.raises(ConfigError, match=r"capture_params='yes'.*expected a bool"):
        resolve_settings(capture_params="yes")
    with pytest.raises(ConfigError, match=r"unknown option.*colour"):
        resolve_settings(colour="blue")


def test_bad_environment_values_warn_once_and_use_the_default(monkeypatch, caplog):
    monkeypatch.setenv("OTELYTICS_SAMPLE_RATIO", "lots")
    with caplog.at_level("WARNING", logger="otelytics"):
        s = resolve_settings()
        resolve_settings()
    assert s.sample_ratio is None
    msgs = [r.getMessage() for r in caplog.records if "OTELYTICS_SAMPLE_RATIO" in r.getMessage()]
    assert len(msgs) == 1 and "'lots'" in msgs[0]


def test_existing_provider_is_kept_with_its_processors(python_run):
    code = _COLLECT + textwrap.dedent("""
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        app_exp = InMemorySpanExporter()
        tp = TracerProvider()
        tp.add_span_processor(SimpleSpanProcessor(app_exp))
        trace.set_tracer_provider(tp)
        otelytics.configure(service_name="ignored-here")
        otelytics.configure()  # idempotent
        @otelytics.track
        def f(): return 1
        with otelytics.session("s"):
            f()
        procs = [type(p).__name__ for p in tp._active_span_processor._span_processors]
        print(json.dumps({"provider_same": trace.get_tracer_provider() is tp,
                          "procs": procs, "spans": [s.name for s in app_exp.get_finished_spans()]}))
    """)
    r = python_run(code)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["provider_same"] is True
    # the GenAI enrichment processor goes first (it must run before any exporter)
    assert out["procs"] == ["EnrichingSpanProcessor", "SimpleSpanProcessor",
                            "MembershipSpanProcessor"]
    assert out["spans"] == ["f", "session s"]


def test_configure_builds_providers_with_resource_sampler_and_exporters(python_run):
    code = _COLLECT + textwrap.dedent("""
        exp = InMemorySpanExporter()
        settings = otelytics.configure(service_name="svc", exporters=[exp], sample_ratio=0.0)
        @otelytics.track
        def f(): return 1
        for _ in range(20): f()
        otelytics.force_flush()
        none_sampled = len(exp.get_finished_spans())
        tp = trace.get_tracer_provider()
        print(json.dumps({"service": tp.resource.attributes["service.name"],
                          "sampled": none_sampled, "ratio": settings.sample_ratio}))
    """)
    r = python_run(code)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"service": "svc", "sampled": 0, "ratio": 0.0}


def test_standard_otel_variables_are_honoured(python_run):
    code = _COLLECT + textwrap.dedent("""
        otelytics.configure()
        @otelytics.track
        def f(): return 1
        f()
        otelytics.force_flush()
        tp = trace.get_tracer_provider()
        print(json.dumps({"service": tp.resource.attributes["service.name"],
                          "team": tp.resource.attributes.get("team")}))
    """)
    r = python_run(code, env={"OTEL_SERVICE_NAME": "from-env",
                              "OTEL_RESOURCE_ATTRIBUTES": "team=ml",
                              "OTEL_TRACES_EXPORTER": "console",
                              "OTEL_METRICS_EXPORTER": "none"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.rstrip().splitlines()[-1] == '{"service": "from-env", "team": "ml"}'
    assert '"name": "f"' in r.stdout  # the console exporter named by OTEL_TRACES_EXPORTER


def test_unknown_exporter_keyword_raises_and_unknown_env_name_is_reported(python_run):
    code = textwrap.dedent("""
        import otelytics
        try:
            otelytics.configure(exporters=["nope"])
        except otelytics.ConfigError as e:
            print("ERR", e)
    """)
    r = python_run(code)
    assert "ERR exporters / OTELYTICS_EXPORTERS: unknown traces exporter 'nope'" in r.stdout
    r = python_run("import otelytics; otelytics.configure(); print('ran')",
                   env={"OTEL_TRACES_EXPORTER": "nope", "OTEL_METRICS_EXPORTER": "none"})
    assert r.returncode == 0 and "ran" in r.stdout
    assert "OTEL_TRACES_EXPORTER: unknown traces exporter 'nope'" in r.stderr


def test_disabled_by_environment(python_run):
    code = _COLLECT + textwrap.dedent("""
        exp = InMemorySpanExporter()
        otelytics.configure(exporters=[exp])
        @otelytics.track
        def f(): return 41 + 1
        print(f(), otelytics.is_enabled(), len(exp.get_finished_spans()))
    """)
    r = python_run(code, env={"OTELYTICS_ENABLED": "false"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["42", "False", "0"]
