"""The native extension of otel-logging, built with setuptools-rust (everything else is in pyproject.toml).

``native/`` (Rust, pyo3) becomes the top-level module ``otel_logging_native`` inside the otel-logging wheel:
one abi3 wheel (``cp311-abi3-<platform>``) for CPython 3.11 and later. The extension is optional: without
cargo (or when its build fails) the install still succeeds and otel-logging runs its pure-Python path, which
``otel-logging --version`` reports. An editable install (``pip install -e .``) builds it in place (release
profile: the debug build is many times slower). Cargo's registry and target directories follow
``CARGO_HOME``/``CARGO_TARGET_DIR`` (the Makefile points them under ``.cache/cargo``).
See docs/development.md, "Wheels and the native code".
"""

from setuptools import setup
from setuptools_rust import Binding, RustExtension

setup(
    rust_extensions=[
        RustExtension(
            # the module otel_logging_native.otel_logging_native, re-exported by native/python/otel_logging_native
            "otel_logging_native.otel_logging_native",
            path="native/Cargo.toml",
            binding=Binding.PyO3,
            # Build exactly the dependency versions of native/Cargo.lock.
            args=["--locked"],
            debug=False,
            optional=True,
        )
    ],
    # abi3: setuptools-rust turns this into pyo3's abi3-py311 feature (also set in native/Cargo.toml) and the
    # wheel's tag into cp311-abi3-<platform>.
    options={"bdist_wheel": {"py_limited_api": "cp311"}},
    zip_safe=False,
)
