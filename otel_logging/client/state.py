"""The app side's process-wide state, in one object: ``CLIENT_STATE``.

Everything ``otel_logging.setup()`` changes in the process beyond the objects it returns:

- the pipeline it installed (``handle``) and the lock that serialises setup and shutdown;
- the wrappers around ``logging.config.dictConfig``/``fileConfig`` and ``logging.basicConfig``
  that keep our handler on the root logger across a reconfiguration;
- the trace-context injection into stdlib records (``LoggingInstrumentor``, its record factory wrapped by
  ``client/trace_context.py``), when setup started it;
- the global OpenTelemetry ``LoggerProvider``, when setup set it;
- the root logger's level, when setup lowered it;
- the live ``ReliableBatchProcessor``s, served by one pair of ``os.register_at_fork`` hooks
  (registered once: the os module cannot unregister them).

``CLIENT_STATE.reset()`` shuts the pipeline down and undoes the rest, as in a process where
``setup()`` never ran. Tests call it instead of poking at module globals.
"""

from __future__ import annotations

import logging
import logging.config
import os
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from otel_logging.client.processor import ReliableBatchProcessor
    from otel_logging.client.setup import LoggingHandle

# The logging functions that reset the root logger's handlers: (module, attribute name).
_CONFIG_FUNCTIONS: tuple[tuple[Any, str], ...] = (
    (logging.config, "dictConfig"),
    (logging.config, "fileConfig"),
    (logging, "basicConfig"),
)


class ClientState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.handle: LoggingHandle | None = None
        # (module, name) -> (original, our wrapper) for each logging function we wrapped
        self._config_wrappers: dict[tuple[Any, str], tuple[Callable[..., Any], Callable[..., Any]]] = {}
        self._instrumented_logging = False
        self._global_provider: Any = None
        self._root_level: tuple[int, int] | None = None  # (level before setup, level setup set)
        self._processors: weakref.WeakSet[ReliableBatchProcessor] = weakref.WeakSet()
        self._fork_hooks_registered = False  # never reset: os.register_at_fork cannot be undone

    # -- the handler survives logging reconfiguration ------------------------------------
    def keep_handler_across_logging_config(self) -> None:
        """``dictConfig``/``fileConfig``/``basicConfig(force=True)`` after ``setup()`` keep our handler.

        They reset the root logger's handlers; the current handler is taken out before and put
        back after (as opentelemetry-instrumentation-logging does for its own handler).
        """
        with self.lock:
            for owner, name in _CONFIG_FUNCTIONS:
                if (owner, name) not in self._config_wrappers:
                    original = getattr(owner, name)
                    wrapper = self._keeping_handler(original)
                    setattr(owner, name, wrapper)
                    self._config_wrappers[(owner, name)] = (original, wrapper)

    def _keeping_handler(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def configure(*args: Any, **kwargs: Any) -> Any:
            handle = self.handle
            handler = handle.handler if handle is not None else None
            root = logging.getLogger()
            if handler is None or handler not in root.handlers:
                return function(*args, **kwargs)
            root.removeHandler(handler)
            try:
                return function(*args, **kwargs)
            finally:
                if handler not in root.handlers:
                    root.addHandler(handler)

        configure.__wrapped__ = function  # type: ignore[attr-defined]
        return configure

    # -- process-wide settings made by setup() ---------------------------------------------
    def inject_trace_context(self) -> None:
        """``record.otelTraceID`` / ``record.otelSpanID`` on stdlib records (unless already on)."""
        from opentelemetry.instrumentation.logging import LoggingInstrumentor
        from opentelemetry.trace import get_tracer_provider

        from otel_logging.client.trace_context import fast_factory

        instrumentor = LoggingInstrumentor()
        if not instrumentor.is_instrumented_by_opentelemetry:
            provider = get_tracer_provider()  # the instrumentor's (it takes the global one too)
            instrumentor.instrument(inject_trace_context=True, enable_log_auto_instrumentation=False)
            self._instrumented_logging = True
            # Its factory, with the record of no current span made for less (client/trace_context.py);
            # uninstrument() puts the factory from before back, so reset() removes this one too.
            instrumented, base = logging.getLogRecordFactory(), LoggingInstrumentor._old_factory
            if base is not None and instrumented is not base:
                faster = fast_factory(instrumented, base, provider)
                if faster is not None:
                    logging.setLogRecordFactory(faster)

    def set_global_provider_once(self, provider: Any) -> None:
        """Make ``provider`` the global LoggerProvider unless one is set already."""
        from opentelemetry._logs import _internal as logs_internal
        from opentelemetry._logs import set_logger_provider

        if getattr(logs_internal, "_LOGGER_PROVIDER", None) is None:
            set_logger_provider(provider)
            self._global_provider = provider

    def lower_root_level(self, level: int) -> None:
        root = logging.getLogger()
        if root.getEffectiveLevel() > level:
            if self._root_level is None:
                self._root_level = (root.level, level)
            root.setLevel(level)

    # -- fork ------------------------------------------------------------------------------
    def add_processor(self, processor: ReliableBatchProcessor) -> None:
        """Give ``processor`` the fork handling (flush before, fresh worker in the child)."""
        with self.lock:
            self._processors.add(processor)
            if not self._fork_hooks_registered and hasattr(os, "register_at_fork"):
                os.register_at_fork(before=self._before_fork, after_in_child=self._after_fork_in_child)
                self._fork_hooks_registered = True

    def processors(self) -> list[ReliableBatchProcessor]:
        return list(self._processors)

    def _before_fork(self) -> None:
        for processor in list(self._processors):
            processor._before_fork()

    def _after_fork_in_child(self) -> None:
        for processor in list(self._processors):
            processor._after_fork_in_child()

    # -- tests -----------------------------------------------------------------------------
    def reset(self) -> None:
        """Shut the pipeline down and undo what ``setup()`` changed in the process."""
        with self.lock:
            handle = self.handle
        if handle is not None:
            handle.shutdown()
        with self.lock:
            self.handle = None
            for (owner, name), (original, wrapper) in list(self._config_wrappers.items()):
                if getattr(owner, name) is wrapper:  # not wrapped again by someone else since
                    setattr(owner, name, original)
                    del self._config_wrappers[(owner, name)]
            if self._instrumented_logging:
                from opentelemetry.instrumentation.logging import LoggingInstrumentor

                instrumentor = LoggingInstrumentor()
                if instrumentor.is_instrumented_by_opentelemetry:
                    instrumentor.uninstrument()
                self._instrumented_logging = False
            if self._global_provider is not None:
                from opentelemetry._logs import _internal as logs_internal
                from opentelemetry.util._once import Once

                if logs_internal._LOGGER_PROVIDER is self._global_provider:
                    logs_internal._LOGGER_PROVIDER = None
                    logs_internal._LOGGER_PROVIDER_SET_ONCE = Once()
                self._global_provider = None
            if self._root_level is not None:
                before, set_by_setup = self._root_level
                root = logging.getLogger()
                if root.level == set_by_setup:
                    root.setLevel(before)
                self._root_level = None
            processors = list(self._processors)
            self._processors = weakref.WeakSet()
        for processor in processors:  # created outside setup() (tests) and not shut down yet
            processor.shutdown()


CLIENT_STATE = ClientState()
