"""The compiled parts of ingest: the canonical-line scanner (jobs/ingest/_scan.c) and the
batch xxh3 hashers (jobs/ingest/_hashing.c, with the vendored xxHash header).

Everything else is declared in pyproject.toml. Both extensions are optional: where no C
compiler is found the build goes on without them and ingest uses pyarrow's JSON reader and the
`xxhash` package one value at a time instead (slower, same rows and digests; docs/ingest.md).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "tracelake.jobs.ingest._scan",
            ["jobs/ingest/_scan.c"],
            extra_compile_args=["-O2", "-std=c11"],
            optional=True,
        ),
        Extension(
            "tracelake.jobs.ingest._hashing",
            ["jobs/ingest/_hashing.c"],
            depends=["jobs/ingest/vendor/xxhash/xxhash.h"],
            extra_compile_args=["-O2", "-std=c11"],
            optional=True,
        ),
    ]
)
