"""Secret and personal-data scrubbing: detectors (one small named step each), the placeholder
scheme, and a scrubber that applies them to an event's free-text fields."""

from .detectors import DETECTORS, Detector
from .placeholders import placeholder
from .scrubber import SCRUBBED_COLUMNS, Finding, Scrubber

__all__ = ["DETECTORS", "SCRUBBED_COLUMNS", "Detector", "Finding", "Scrubber", "placeholder"]
