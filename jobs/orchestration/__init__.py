"""Orchestration: what the Airflow DAGs in `dags/` are made of.

  config        OrchestrationSettings, the `airflow` settings section: schedules, retries,
                Spark run mode (tracelake.toml / env / Airflow Variable)
  defaults      DAG and task defaults, set in one place
  assets        the Airflow Asset of each lake table
  runtime       the tracelake Settings a task runs with (env + Airflow Variables / Connections)
  tasks         task callables: landing pickup, ingest, Spark jobs (local or spark-submit)
  spark_submit  the pure builder of the cluster-mode spark-submit command line
  alerts        deadline-alert callbacks

Nothing here imports pyspark or deltalake at import time: DAG files import these modules while
the DAG processor parses them.
"""
