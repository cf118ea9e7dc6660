"""Where the silver lineage and pattern jobs read their events from.

ONE constant: the scrubbed copy of the events (silver.events), which every derived job reads;
bronze keeps the raw text and is read only by the scrub.
"""

from __future__ import annotations

from ..lake import catalog

EVENTS_SOURCE: catalog.TableSpec = catalog.SILVER_EVENTS
