"""The native hot paths of otel-logging: the extension built from native/src (setup.py, setuptools-rust).

An otel-logging built without it (no cargo at build time, or its build failed) has this package but not the
extension: importing it then raises ImportError saying so, and otel-logging runs its pure-Python path.
"""

try:
    from .otel_logging_native import *  # noqa: F403
except ImportError as exc:
    raise ImportError(
        f"otel-logging was installed without its native extension ({exc}): it was built where cargo was not "
        "found or the extension's build failed; reinstall with cargo on PATH (https://rustup.rs)"
    ) from exc
