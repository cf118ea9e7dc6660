"""`tracelake sql`: analyst SQL over the lake on an embedded engine (DuckDB) or Spark SQL."""
