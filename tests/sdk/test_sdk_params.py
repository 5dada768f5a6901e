"""Parameter capture: bound by signature, typed when numeric, capped, secrets redacted."""

from __future__ import annotations

import otelytics
from otelytics.semconv import attributes as a

P = a.OTELYTICS_ESTIMATOR_PARAM + "."


def _params(span):
    return {k[len(P):]: v for k, v in span.attributes.items() if k.startswith(P)}


def test_params_bound_by_signature_with_defaults_excluded(spans):
    @otelytics.track(capture_params=True)
    def fit(X, alpha=0.1, fit_intercept=True, solver="lbfgs", **extra):
        return 1

    fit([1, 2, 3], 0.5, solver="saga", verbose=2)
    (s,) = spans.get_finished_spans()
    assert _params(s) == {"X": "[1, 2, 3]", "alpha": 0.5, "solver": "saga", "verbose": 2}


def test_secrets_are_redacted_by_name_value_and_inside_mappings(spans):
    @otelytics.track(capture_params=True)
    def call(url, api_key, headers, note, db_password=None):
        return 1

    call("https://x", "abc123", {"Authorization": "Bearer zzz", "Accept": "json"},
         "sk-proj-ABCDEFGHIJKLMNOP", db_password="hunter2")
    p = _params(spans.get_finished_spans()[0])
    assert p["api_key"] == "[REDACTED]"
    assert p["db_password"] == "[REDACTED]"
    assert p["note"] == "[REDACTED]"  # looks like an OpenAI key
    assert "zzz" not in p["headers"] and "'Accept': json" in p["headers"]
    assert p["url"] == "https://x"
    blob = repr(spans.get_finished_spans()[0].attributes)
    for secret in ("abc123", "hunter2", "ABCDEFGHIJKLMNOP", "zzz"):
        assert secret not in blob


def test_extra_redaction_names_from_settings(spans):
    otelytics.configure(capture_params=True, redact=("ssn",))

    @otelytics.track
    def store(user_ssn, name):
        return 1

    store("123-45-6789", "Ada")
    p = _params(spans.get_finished_spans()[0])
    assert p == {"user_ssn": "[REDACTED]", "name": "Ada"}


def test_values_are_size_capped_and_unrepresentable_values_are_safe(spans):
    class Evil:
        def __repr__(self):
            raise RuntimeError("no repr for you")

    class Shaped:
        shape = (1000, 20)

    @otelytics.track(capture_params=True)
    def f(text, obj, arr, blob, many):
        return 1

    otelytics.configure(max_param_length=50)
    assert f("x" * 10_000, Evil(), Shaped(), b"\x00" * 99, list(range(1000))) == 1
    p = _params(spans.get_finished_spans()[0])
    assert len(p["text"]) == 50 and p["text"].endswith("…")
    assert p["obj"] == "<unrepresentable Evil>"
    assert p["arr"] == "<Shaped shape=(1000, 20)>"
    assert p["blob"] == "<bytes len=99>"
    assert len(p["many"]) <= 50


def test_params_off_by_default_and_on_from_environment_setting(spans, monkeypatch):
    @otelytics.track
    def f(x):
        return x

    f(1)
    monkeypatch.setenv("OTELYTICS_CAPTURE_PARAMS", "true")
    otelytics.configure()
    f(2)
    first, second = spans.get_finished_spans()
    assert _params(first) == {}
    assert _params(second) == {"x": 2}


def test_self_is_not_a_parameter(spans):
    class M:
        @otelytics.track(capture_params=True)
        def fit(self, k):
            return k

    M().fit(3)
    assert _params(spans.get_finished_spans()[0]) == {"k": 3}


def test_default_reprs_lose_their_memory_address(spans):
    """``<random.Random object at 0x7f..>`` would make every value unique: type only."""
    import random

    def helper():
        return 1

    class Plain:
        pass

    @otelytics.track(capture_params=True)
    def f(rng, fn, objs):
        return 1

    f(random.Random(1), helper, [Plain(), Plain()])
    f(random.Random(2), helper, [Plain()])
    first, second = (_params(s) for s in spans.get_finished_spans())
    assert first["rng"] == second["rng"] == "<random.Random>"
    assert first["fn"] == second["fn"] == (
        "<function test_default_reprs_lose_their_memory_address.<locals>.helper>")
    plain = f"<{Plain.__module__}.{Plain.__qualname__}>"
    assert first["objs"] == f"[{plain}, {plain}]"
    assert "0x" not in repr(first) + repr(second)
