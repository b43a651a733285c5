"""The native fast path of ingest (collector/_fastpath.c), built when a C compiler is available:
optional, so that an install without one still succeeds and the Python path is used."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "collector._fastpath",
            sources=["collector/_fastpath.c"],
            extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
            optional=True,
        )
    ]
)
