"""What ``setup(structlog=True, loguru=True)`` calls: install the bridges, return how to take them out."""

from __future__ import annotations

from collections.abc import Callable, Iterable


def install_bridges(libraries: Iterable[str], level: int) -> list[Callable[[], None]]:
    """Install the bridge of each library named; the uninstall functions, in order of installation."""
    uninstall: list[Callable[[], None]] = []
    try:
        for name in libraries:
            if name == "structlog":
                from otel_logging.client.bridges import structlog as structlog_bridge

                uninstall.append(structlog_bridge.install())
            elif name == "loguru":
                from otel_logging.client.bridges import loguru as loguru_bridge

                uninstall.append(loguru_bridge.install(level))
            else:
                raise ValueError(f"no logging bridge for {name!r} (there are: structlog, loguru)")
    except ModuleNotFoundError as exc:
        for undo in reversed(uninstall):
            undo()
        raise ImportError(
            f"setup({name}=True): the {name} package is not installed ({exc}); pip install {name}"
        ) from exc
    except Exception:
        for undo in reversed(uninstall):
            undo()
        raise
    return uninstall
