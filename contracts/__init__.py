"""Data contracts, one YAML per table; quality suites are generated from them."""
