"""Where the gates' Data Docs (GX's static HTML site) go, and the GX site configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..lake.store import Lake

SITE_NAME = "tracelake_gates"
# Under the lake's ops area, beside the ops tables (a folder no table is named after).
DOCS_FOLDER = "gate_docs"


def docs_dir(lake: Lake, override: str | None = None) -> tuple[Path | None, str]:
    """(the site's folder, a note for the user). On an S3 lake the site is built only where
    `override` says (a local folder): GX writes the site with local file operations."""
    if override:
        return Path(override).expanduser().resolve(), ""
    if lake.is_local:
        return Path(lake.root.removeprefix("file://")) / "ops" / DOCS_FOLDER, ""
    return None, (
        f"Data Docs not built: the lake is on S3 ({lake.root}); pass --docs DIR to build them "
        "in a local folder (the results are in ops.gate_results either way)"
    )


def site_config(folder: Path) -> dict[str, Any]:
    return {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(folder),
        },
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
