"""The compiled parts of ingest (`_scan`, `_hashing`: jobs/ingest/*.c), loaded when built.

`pip install` (an editable install included) compiles them in place; without a C compiler
they are absent and ingest falls back to pyarrow's JSON reader and the `xxhash` package (same
results, slower). `TRACELAKE_NATIVE_DIR` loads them from another directory instead: `make
sanitize` points it at builds with AddressSanitizer and UBSan.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import sysconfig
from types import ModuleType


@functools.cache
def load(name: str) -> ModuleType | None:
    """The compiled module `name` of this package, or None when it was not built."""
    directory = os.environ.get("TRACELAKE_NATIVE_DIR")
    if directory:
        path = os.path.join(directory, name + sysconfig.get_config_var("EXT_SUFFIX"))
        spec = importlib.util.spec_from_file_location(f"{__package__}.{name}", path)
        if spec is None or spec.loader is None:
            raise ImportError(f"no {name} build in TRACELAKE_NATIVE_DIR={directory}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(f"{__package__}.{name}")
    except ImportError:
        return None
