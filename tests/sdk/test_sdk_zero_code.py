"""Zero-code: opentelemetry-instrument in a subprocess, and the instrumentor in process."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from otelytics.instrumentor import FunctionInstrumentor, parse_targets
from otelytics.semconv import attributes as a

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _console_spans(stdout: str) -> list[dict]:
    """The JSON span objects the console exporter printed, in order."""
    dec = json.JSONDecoder()
    out, i = [], 0
    while (i := stdout.find("{", i)) != -1:
        try:
            obj, end = dec.raw_decode(stdout, i)
        except json.JSONDecodeError:
            i += 1
            continue
        if isinstance(obj, dict) and "context" in obj:
            out.append(obj)
        i = end
    return out


def _instrument(python_run, env: dict[str, str]):
    base = {"OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none",
            "PATH": f"{BIN}:/usr/bin:/bin", "OTEL_SERVICE_NAME": "zero-code-test"}
    return python_run("examples/zero_code_app.py", env={**base, **env},
                      prefix=[str(BIN / "opentelemetry-instrument")])


def test_opentelemetry_instrument_tracks_functions_with_no_code_change(python_run):
    r = _instrument(python_run, {"OTELYTICS_INSTRUMENT": "inventory:*",
                                 "OTEL_TRACES_EXPORTER": "console"})
    assert r.returncode == 0, r.stderr
    assert "RESULT total=45 forecast=[8.0, 8.0]" in r.stdout  # the app's own behaviour
    got = _console_spans(r.stdout)
    names = [s["name"] for s in got]
    assert names == ["load", "Forecaster.default", "Forecaster.fit", "Forecaster.predict",
                     "Forecaster.check", "Forecaster.check", "total"]
    assert all(s["resource"]["attributes"]["service.name"] == "zero-code-test" for s in got)
    fit = got[2]
    assert fit["attributes"][a.OTELYTICS_ESTIMATOR_DATA_LENGTH] == 10
    failed = got[5]
    assert failed["status"]["status_code"] == "ERROR"
    assert failed["attributes"][a.ERROR_TYPE] == "ValueError"


def test_selected_targets_only(python_run):
    r = _instrument(python_run, {
        "OTELYTICS_INSTRUMENT": "inventory:load,inventory:Forecaster.fit",
        "OTEL_TRACES_EXPORTER": "console"})
    assert r.returncode == 0, r.stderr
    assert [s["name"] for s in _console_spans(r.stdout)] == ["load", "Forecaster.fit"]


def test_misconfiguration_is_one_clear_message_and_the_rest_works(python_run):
    r = _instrument(python_run, {"OTELYTICS_INSTRUMENT": "inventory:load",
                                 "OTEL_TRACES_EXPORTER": "bogus,console",
                                 "OTELYTICS_CAPTURE_PARAMS": "maybe"})
    assert r.returncode == 0, r.stderr
    assert "OTEL_TRACES_EXPORTER names unknown exporter(s) 'bogus'" in r.stderr
    assert "OTELYTICS_CAPTURE_PARAMS='maybe'" in r.stderr
    assert "Traceback" not in r.stderr
    assert [s["name"] for s in _console_spans(r.stdout)] == ["load"]


def test_bad_instrument_spec_is_reported_not_silent(python_run):
    r = _instrument(python_run, {"OTELYTICS_INSTRUMENT": "inventory-load",
                                 "OTEL_TRACES_EXPORTER": "console"})
    assert r.returncode == 0
    assert "OTELYTICS_INSTRUMENT: 'inventory-load' is not 'module:function'" in r.stderr
    r = _instrument(python_run, {"OTELYTICS_INSTRUMENT": "inventory:nope",
                                 "OTEL_TRACES_EXPORTER": "console"})
    assert "inventory has no attribute 'nope'" in r.stderr


def test_parse_targets():
    assert parse_targets("a.b:f, a.b:C.m ,c:*") == {"a.b": ["f", "C.m"], "c": ["*"]}
    for bad in ("nocolon", "m:", ":f", "m:A.b.c"):
        with pytest.raises(ValueError):
            parse_targets(bad)


def test_instrument_and_uninstrument_restore_originals(spans):
    mod = types.ModuleType("otelytics_zc_probe")
    exec(
        "def f(x):\n    return x + 1\n"
        "class K:\n"
        "    def m(self):\n        return 2\n"
        "    @classmethod\n    def c(cls):\n        return 3\n"
        "    @staticmethod\n    def s():\n        return 4\n",
        mod.__dict__,
    )
    sys.modules[mod.__name__] = mod
    orig = (mod.f, mod.K.__dict__["m"], mod.K.__dict__["c"], mod.K.__dict__["s"])
    inst = FunctionInstrumentor()
    try:
        inst.instrument(targets=f"{mod.__name__}:*")
        assert mod.f(1) == 2 and mod.K().m() == 2 and mod.K.c() == 3 and mod.K.s() == 4
        assert mod.f is not orig[0]
        assert len(spans.get_finished_spans()) == 4
        FunctionInstrumentor().instrument(targets=f"{mod.__name__}:*")  # twice: no doubling
        mod.f(1)
        assert len(spans.get_finished_spans()) == 5
    finally:
        FunctionInstrumentor().uninstrument()
        del sys.modules[mod.__name__]
    assert (mod.f, mod.K.__dict__["m"], mod.K.__dict__["c"], mod.K.__dict__["s"]) == orig
    mod.f(1)
    assert len(spans.get_finished_spans()) == 5


def test_post_import_hook_patches_modules_imported_later(spans, tmp_path, monkeypatch):
    (tmp_path / "otelytics_late_mod.py").write_text("def g():\n    return 'g'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    inst = FunctionInstrumentor()
    try:
        inst.instrument(targets="otelytics_late_mod:g")
        import otelytics_late_mod

        assert otelytics_late_mod.g() == "g"
        assert [s.name for s in spans.get_finished_spans()] == ["g"]
    finally:
        inst.uninstrument()
        sys.modules.pop("otelytics_late_mod", None)
