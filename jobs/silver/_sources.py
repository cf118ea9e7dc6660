"""Where the silver lineage and pattern jobs read their events from.

ONE constant, so switching every job of this package to the scrubbed copy of the events
(silver.events, same schema) is a one-line change.
"""

from __future__ import annotations

from ..lake import catalog

EVENTS_SOURCE: catalog.TableSpec = catalog.BRONZE_EVENTS
