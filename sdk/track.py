"""``@otelytics.track`` and ``with otelytics.track(...)``: functions as OpenTelemetry spans.

One decorator covers sync and async functions, generators and async generators (the span
covers the whole iteration), methods, classmethods and staticmethods. The same object is a
context manager for blocks of code. When otelytics is disabled a decorated call costs one
flag check.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from typing import Any, TypeVar, overload

from opentelemetry.context import attach as otel_attach
from opentelemetry.context import detach as otel_detach
from opentelemetry.trace import Span

from otelytics import _state
from otelytics._call import Call, Spec, attach, detach, finish, report_internal_error, start
from otelytics._frames import current_frame
from otelytics._params import SecretMatcher, capture, first_sized_length
from otelytics.semconv import attributes as a

__all__ = ["TrackedCall", "track"]

F = TypeVar("F", bound=Callable[..., Any])
DataLength = int | str | Callable[..., int] | None

_TRACKED = "__otelytics_tracked__"
_WORKFLOW = a.OtelyticsSpanTypeValues.WORKFLOW.value

_secret_matchers: dict[tuple[str, ...], SecretMatcher] = {}


def _is_secret() -> SecretMatcher:
    key = _state.settings.redact
    matcher = _secret_matchers.get(key)
    if matcher is None:
        matcher = _secret_matchers[key] = SecretMatcher(key)
    return matcher


class TrackedCall:
    """Handle returned by ``with track(...) as call``: add attributes while the block runs."""

    __slots__ = ("_call",)

    def __init__(self, call: Call | None) -> None:
        self._call = call

    @property
    def span(self) -> Span | None:
        """The OpenTelemetry span, or ``None`` when otelytics is disabled."""
        return self._call.span if self._call is not None else None

    def set_attribute(self, key: str, value: Any) -> None:
        if self._call is not None:
            try:
                self._call.span.set_attribute(key, value)
            except Exception:
                report_internal_error("set_attribute")

    def set_attributes(self, attributes: dict[str, Any]) -> None:
        for k, v in attributes.items():
            self.set_attribute(k, v)

    def set_data_length(self, n: int) -> None:
        self.set_attribute(a.OTELYTICS_ESTIMATOR_DATA_LENGTH, int(n))


class _Options:
    """Per-decoration options; ``None`` means "follow the global settings"."""

    __slots__ = ("attributes", "capture_memory", "capture_params", "data_length", "estimator",
                 "name", "workflow")

    def __init__(self, name: str | None, estimator: str | None, data_length: DataLength,
                 attributes: dict[str, Any] | None, capture_params: bool | None,
                 capture_memory: bool | None, workflow: bool) -> None:
        self.name = name
        self.estimator = estimator
        self.data_length = data_length
        self.attributes = dict(attributes or {})
        self.capture_params = capture_params
        self.capture_memory = capture_memory
        self.workflow = workflow

    def spec(self, name: str, code: dict[str, Any], record_cpu: bool) -> Spec:
        # A function span is identified by its instrumentation scope (``otelytics``): one
        # attribute less per call; the Parquet exporter fills span_type="function" from it.
        attrs: dict[str, Any] = {a.OTELYTICS_SPAN_TYPE: _WORKFLOW} if self.workflow else {}
        if self.estimator and self.estimator != name:
            # otherwise the span name is the estimator name (one attribute less per call)
            attrs[a.OTELYTICS_ESTIMATOR_NAME] = self.estimator
        attrs.update(self.attributes)
        if isinstance(self.data_length, int) and not isinstance(self.data_length, bool):
            attrs[a.OTELYTICS_ESTIMATOR_DATA_LENGTH] = self.data_length
        return Spec(name, attrs, self.estimator, self.workflow, record_cpu, code)

    def memory(self) -> bool:
        cm = self.capture_memory
        return _state.settings.capture_memory if cm is None else cm

    def params(self) -> bool:
        cp = self.capture_params
        return _state.settings.capture_params if cp is None else cp


def _code_attributes(func: Callable[..., Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    mod = getattr(func, "__module__", None)
    qual = getattr(func, "__qualname__", getattr(func, "__name__", "?"))
    out[a.CODE_FUNCTION_NAME] = f"{mod}.{qual}" if mod else qual
    code = getattr(func, "__code__", None)
    if code is not None:
        out[a.CODE_FILE_PATH] = code.co_filename
        out[a.CODE_LINE_NUMBER] = code.co_firstlineno
    return out


def _skips_first(func: Callable[..., Any]) -> bool:
    """Whether the first parameter is ``self``/``cls`` (excluded from params and data length)."""
    try:
        params = list(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return False
    return bool(params) and params[0] in ("self", "cls")


class _Instrumented:
    """Everything a wrapper needs about one decorated function, computed once."""

    __slots__ = ("func", "opts", "sig", "skip_first", "spec")

    def __init__(self, func: Callable[..., Any], opts: _Options, record_cpu: bool) -> None:
        self.func = func
        self.opts = opts
        name = opts.name or getattr(func, "__qualname__", None) or repr(func)
        self.spec = opts.spec(name, _code_attributes(func), record_cpu)
        self.skip_first = _skips_first(func)
        try:
            self.sig: inspect.Signature | None = inspect.signature(func)
        except (TypeError, ValueError):
            self.sig = None

    def begin(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
        opts = self.opts
        if (not args and not kwargs and opts.data_length is None and opts.capture_memory is None
                and not _state.settings.capture_memory):
            return start(self.spec)  # nothing to measure in the arguments
        try:
            extra: dict[str, Any] | None = None
            dl = opts.data_length
            n: int | None = None
            if dl is None:
                n = first_sized_length(args, self.skip_first)
            elif isinstance(dl, str):
                n = self._len_of_param(dl, args, kwargs)
            elif callable(dl):
                n = int(dl(*args, **kwargs))
            if n is not None:
                extra = {a.OTELYTICS_ESTIMATOR_DATA_LENGTH: n}
            if opts.params():
                st = _state.settings
                params = capture(self.sig, args, kwargs, self.skip_first,
                                 st.max_param_length, _is_secret())
                extra = params if extra is None else extra | params
        except Exception:
            report_internal_error("arguments")
        return start(self.spec, extra, capture_memory=opts.memory())

    def _len_of_param(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int | None:
        if self.sig is None:
            return None
        value = self.sig.bind_partial(*args, **kwargs).arguments.get(name)
        return len(value) if value is not None else None


def _wrap_function(inst: _Instrumented) -> Callable[..., Any]:
    func = inst.func
    thread_time = time.thread_time

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not _state.enabled:
            return func(*args, **kwargs)
        call = inst.begin(args, kwargs)
        if call is None:
            return func(*args, **kwargs)
        token = otel_attach(call.ctx)
        c0 = thread_time()
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            call.cpu = thread_time() - c0
            otel_detach(token)
            finish(call, exc)
            raise
        call.cpu = thread_time() - c0
        otel_detach(token)  # logs, never raises, on a foreign token
        finish(call, None)
        return result

    return wrapper


def _wrap_coroutine(inst: _Instrumented) -> Callable[..., Any]:
    func = inst.func

    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not _state.enabled:
            return await func(*args, **kwargs)
        call = inst.begin(args, kwargs)
        if call is None:
            return await func(*args, **kwargs)
        token = attach(call)
        try:
            result = await func(*args, **kwargs)
        except BaseException as exc:
            detach(token)
            finish(call, exc)
            raise
        detach(token)
        finish(call, None)
        return result

    return wrapper


def _wrap_generator(inst: _Instrumented) -> Callable[..., Any]:
    """The span covers the whole iteration; it is current only while the generator runs."""
    func = inst.func
    thread_time = time.thread_time

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not _state.enabled:
            return (yield from func(*args, **kwargs))
        call = inst.begin(args, kwargs)
        gen = func(*args, **kwargs)
        if call is None:
            return (yield from gen)
        failure: BaseException | None = None
        to_send: Any = None
        to_throw: BaseException | None = None
        try:
            while True:
                token = attach(call)
                c0 = thread_time()
                try:
                    if to_throw is not None:
                        exc, to_throw = to_throw, None
                        item = gen.throw(exc)
                    else:
                        item = gen.send(to_send)
                finally:
                    call.cpu += thread_time() - c0
                    detach(token)
                try:
                    to_send = yield item
                except GeneratorExit:
                    token = attach(call)
                    try:
                        gen.close()
                    finally:
                        detach(token)
                    raise
                except BaseException as exc:
                    to_throw = exc
        except StopIteration as stop:
            return stop.value
        except BaseException as exc:
            failure = exc
            raise
        finally:
            finish(call, failure)

    return wrapper


def _wrap_async_generator(inst: _Instrumented) -> Callable[..., Any]:
    """Like the generator wrapper; drives ``asend``/``athrow``/``aclose`` even when disabled,
    since an async generator has no ``yield from`` to hand the protocol through."""
    func = inst.func

    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        call = inst.begin(args, kwargs) if _state.enabled else None
        agen = func(*args, **kwargs)
        failure: BaseException | None = None
        to_send: Any = None
        to_throw: BaseException | None = None
        try:
            while True:
                token = attach(call) if call is not None else None
                try:
                    if to_throw is not None:
                        exc, to_throw = to_throw, None
                        item = await agen.athrow(exc)
                    else:
                        item = await agen.asend(to_send)
                finally:
                    if token is not None:
                        detach(token)
                try:
                    to_send = yield item
                except GeneratorExit:
                    token = attach(call) if call is not None else None
                    try:
                        await agen.aclose()
                    finally:
                        if token is not None:
                            detach(token)
                    raise
                except BaseException as exc:
                    to_throw = exc
        except StopAsyncIteration:
            return
        except BaseException as exc:
            failure = exc
            raise
        finally:
            if call is not None:
                finish(call, failure)

    return wrapper


def _decorate(func: Any, opts: _Options) -> Any:
    if isinstance(func, (classmethod, staticmethod)):
        return type(func)(_decorate(func.__func__, opts))
    if not callable(func):
        raise TypeError(f"otelytics.track needs a callable, got {type(func).__name__}")
    if getattr(func, _TRACKED, False):
        return func  # already tracked: one call, one span
    if inspect.isasyncgenfunction(func):
        wrapper = _wrap_async_generator(_Instrumented(func, opts, record_cpu=False))
    elif inspect.iscoroutinefunction(func):
        wrapper = _wrap_coroutine(_Instrumented(func, opts, record_cpu=False))
    elif inspect.isgeneratorfunction(func):
        wrapper = _wrap_generator(_Instrumented(func, opts, record_cpu=True))
    else:
        wrapper = _wrap_function(_Instrumented(func, opts, record_cpu=True))
    setattr(wrapper, _TRACKED, True)
    return wrapper


class _Tracker:
    """``track("name", ...)``: a decorator and a context manager at once.

    As a context manager it keeps no state of its own: the running call is the frame it put
    in the OTel context, so one tracker object can be entered concurrently from threads and
    asyncio tasks, and nested.
    """

    __slots__ = ("_opts", "_specs")

    def __init__(self, opts: _Options) -> None:
        self._opts = opts
        self._specs: dict[bool, Spec] = {}

    def __call__(self, func: F) -> F:
        return _decorate(func, self._opts)

    def _enter(self, record_cpu: bool) -> TrackedCall:
        if not _state.enabled:
            return TrackedCall(None)
        opts = self._opts
        if not opts.name:
            raise TypeError("with otelytics.track(...) needs a name: track('load_batch')")
        try:
            spec = self._specs.get(record_cpu)
            if spec is None:
                spec = self._specs[record_cpu] = opts.spec(opts.name, {}, record_cpu)
        except Exception:
            report_internal_error("enter")
            return TrackedCall(None)
        call = start(spec, capture_memory=opts.memory())
        if call is not None:
            call.owner = self
            call.token = attach(call)
            if record_cpu:
                call.cpu = -time.thread_time()
        return TrackedCall(call)

    def _exit(self, exc: BaseException | None) -> None:
        call = current_frame()
        if call is None or call.owner is not self:
            return  # disabled on entry, or otelytics failed to start: nothing to end
        if call.spec.record_cpu:
            call.cpu += time.thread_time()
        detach(call.token)
        finish(call, exc)

    def __enter__(self) -> TrackedCall:
        return self._enter(record_cpu=True)

    def __exit__(self, et: type | None, exc: BaseException | None, tb: object) -> None:
        self._exit(exc)

    async def __aenter__(self) -> TrackedCall:
        # no CPU time: the thread's clock runs for other tasks across an await
        return self._enter(record_cpu=False)

    async def __aexit__(self, et: type | None, exc: BaseException | None, tb: object) -> None:
        self._exit(exc)


@overload
def track(func: F, /) -> F: ...
@overload
def track(
    name: str | None = None, /, *, estimator: str | None = None, data_length: DataLength = None,
    attributes: dict[str, Any] | None = None, capture_params: bool | None = None,
    capture_memory: bool | None = None,
) -> _Tracker: ...


def track(
    target: Any = None,
    /,
    *,
    name: str | None = None,
    estimator: str | None = None,
    data_length: DataLength = None,
    attributes: dict[str, Any] | None = None,
    capture_params: bool | None = None,
    capture_memory: bool | None = None,
) -> Any:
    """Record a function or a block as a span, with duration, outcome and resource use.

    ``@track`` / ``@track("name", ...)`` decorate; ``with track("name", data_length=n):``
    measures a block. ``data_length`` is an int, the name of a parameter whose ``len()`` to
    take, or a callable of the call's arguments; by default ``len()`` of the first sized
    argument. ``capture_params`` / ``capture_memory`` default to the configured settings.
    """
    opts = _Options(name, estimator, data_length, attributes, capture_params, capture_memory,
                    workflow=False)
    if isinstance(target, str):
        opts.name = target
        return _Tracker(opts)
    if target is None:
        return _Tracker(opts)
    return _decorate(target, opts)


def _workflow_tracker(target: Any, name: str | None, attributes: dict[str, Any] | None) -> Any:
    opts = _Options(name, None, None, attributes, None, None, workflow=True)
    if isinstance(target, str):
        opts.name = target
        return _Tracker(opts)
    if target is None:
        return _Tracker(opts)
    return _decorate(target, opts)

