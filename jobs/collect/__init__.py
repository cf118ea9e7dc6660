"""The live OTLP/HTTP trace receiver (`tracelake collect`); see `server.serve`."""

from .server import Collector, CollectorError, serve

__all__ = ["Collector", "CollectorError", "serve"]
