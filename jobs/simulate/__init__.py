"""The trace simulator: a stand-in for Phase-1 execution collection (SIMULATION mode)."""
