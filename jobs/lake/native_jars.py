"""The jars of native Delta on Spark: which ones, resolving them once, and finding them again.

`python -m tracelake.jobs.lake.native_jars resolve` (run by `make`, with a timeout) starts one
short Spark JVM that resolves the coordinates below through Spark's Ivy from Maven Central into
the Ivy cache (`spark.ivy_dir`, ~/.ivy2 by default) and records the resolved jar paths in a
manifest there. Sessions then put exactly those local jars on the classpath (`spark.jars`):
nothing is downloaded at session start or inside a test, and `spark.delta = auto` uses native
Delta only when the manifest and all its jars exist.

Coordinates:
- `io.delta:delta-spark_<spark major.minor>_2.13:<delta-spark pip version>` (what
  `delta.pip_utils.configure_spark_with_delta_pip` builds);
- `org.apache.hadoop:hadoop-aws:<Hadoop version of the pyspark jars>` for `s3a://`, without the
  AWS SDK `bundle` (about 650 MB): only the SDK modules S3A loads (s3, s3-transfer-manager) at
  the SDK version that Hadoop release was built with.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ..errors import ConfigError

MANIFEST_NAME = "tracelake-native-jars.json"
SCALA = "2.13"
# The AWS SDK v2 release each Hadoop line was built with (hadoop-project's aws-java-sdk-v2).
AWS_SDK_FOR_HADOOP = {"3.5.0": "2.35.4", "3.4.2": "2.29.52", "3.4.1": "2.24.6"}
AWS_SDK_MODULES = ("s3", "s3-transfer-manager")
RESOLVE_TIMEOUT_S = 1500

_JAR_NAME = re.compile(r"^(?P<artifact>.+?)-(?P<version>\d[\w.\-]*)\.jar$")


@dataclass(frozen=True)
class JarSet:
    coordinates: tuple[str, ...]
    excludes: tuple[str, ...]


def pyspark_jars_dir() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


def hadoop_version() -> str:
    for jar in pyspark_jars_dir().glob("hadoop-client-api-*.jar"):
        match = _JAR_NAME.match(jar.name)
        if match:
            return match.group("version")
    raise ConfigError("cannot tell the Hadoop version of this pyspark (no hadoop-client-api jar)")


def delta_coordinate() -> str:
    import pyspark

    try:
        delta_version = metadata.version("delta-spark")
    except metadata.PackageNotFoundError:
        raise ConfigError(
            "native Delta needs the delta-spark package: pip install 'tracelake[spark]'"
        ) from None
    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    return f"io.delta:delta-spark_{spark_minor}_{SCALA}:{delta_version}"


def jar_set() -> JarSet:
    hadoop = hadoop_version()
    coordinates = [delta_coordinate(), f"org.apache.hadoop:hadoop-aws:{hadoop}"]
    sdk = AWS_SDK_FOR_HADOOP.get(hadoop)
    if sdk is None:  # an unknown Hadoop: take the full bundle rather than guess modules
        return JarSet(tuple(coordinates), ())
    coordinates += [f"software.amazon.awssdk:{m}:{sdk}" for m in AWS_SDK_MODULES]
    return JarSet(tuple(coordinates), ("software.amazon.awssdk:bundle",))


def ivy_dir(configured: str) -> Path:
    return Path(os.path.expanduser(configured))


def manifest_path(configured_ivy_dir: str) -> Path:
    return ivy_dir(configured_ivy_dir) / MANIFEST_NAME


def cached_jars(configured_ivy_dir: str) -> list[str] | None:
    """The resolved jars for today's coordinates, or None when they are not all cached."""
    path = manifest_path(configured_ivy_dir)
    try:
        manifest = json.loads(path.read_text())
        wanted = list(jar_set().coordinates)
    except (OSError, ValueError, ConfigError, ImportError):
        return None
    if manifest.get("coordinates") != wanted:
        return None
    jars = [str(j) for j in manifest.get("jars", [])]
    if not jars or not all(Path(j).is_file() for j in jars):
        return None
    return jars


def _not_in_spark(jars: list[str]) -> list[str]:
    """Drop jars whose artifact Spark already ships (Hadoop client, Parquet, Jackson, log4j...):
    two versions of one library on the classpath would be a lottery."""
    shipped = set()
    for spark_jar in pyspark_jars_dir().glob("*.jar"):
        match = _JAR_NAME.match(spark_jar.name)
        if match:
            shipped.add(match.group("artifact"))
    kept = []
    for jar in jars:
        name = Path(jar).name
        # Ivy names cached jars <group>_<artifact>-<version>.jar
        match = _JAR_NAME.match(name.split("_", 1)[1] if "_" in name else name)
        if match and match.group("artifact") in shipped:
            continue
        kept.append(jar)
    return kept


_RESOLVER = """
import json, sys
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("local[1]").appName("tracelake-resolve-jars")
         .config("spark.ui.enabled", "false")
         .config("spark.jars.packages", sys.argv[1])
         .config("spark.jars.excludes", sys.argv[2])
         .config("spark.jars.ivy", sys.argv[3])
         .getOrCreate())
print("TRACELAKE_JARS=" + json.dumps(spark.sparkContext.getConf().get("spark.jars", "")))
spark.stop()
"""


def resolve(configured_ivy_dir: str, timeout_s: int = RESOLVE_TIMEOUT_S) -> list[str]:
    """Resolve the jars through Spark's Ivy (network) and write the manifest."""
    from ..spark import java_home

    wanted = jar_set()
    ivy = ivy_dir(configured_ivy_dir)
    ivy.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    home = java_home()
    if home:
        env["JAVA_HOME"] = home
    args = [",".join(wanted.coordinates), ",".join(wanted.excludes), str(ivy)]
    try:
        done = subprocess.run(
            [sys.executable, "-c", _RESOLVER, *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ConfigError(
            f"resolving the native Delta jars took over {timeout_s}s (is Maven Central "
            "reachable?); Spark jobs use the delta-rs bridge until `make native-jars` succeeds"
        ) from None
    line = next((x for x in done.stdout.splitlines() if x.startswith("TRACELAKE_JARS=")), None)
    if done.returncode != 0 or line is None:
        tail = [x for x in done.stderr.splitlines() if "rror" in x or "unresolved" in x.lower()]
        reason = (tail[-1] if tail else f"exit code {done.returncode}").strip()[:300]
        raise ConfigError(
            f"could not resolve the native Delta jars ({reason}); Spark jobs use the "
            "delta-rs bridge until `make native-jars` succeeds"
        )
    uris = json.loads(line.removeprefix("TRACELAKE_JARS=")).split(",")
    jars = _not_in_spark([u.removeprefix("file://") for u in uris if u])
    manifest = {"coordinates": list(wanted.coordinates), "jars": jars}
    manifest_path(configured_ivy_dir).write_text(json.dumps(manifest, indent=1))
    return jars


def main(argv: list[str] | None = None) -> int:
    from ..settings import load_settings

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        settings = load_settings()
        if argv[:1] == ["check"]:
            jars = cached_jars(settings.spark.ivy_dir)
            print("native Delta jars: " + (f"{len(jars)} cached" if jars else "not cached"))
            return 0 if jars else 1
        jars = resolve(settings.spark.ivy_dir)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"native Delta jars: {len(jars)} resolved into {ivy_dir(settings.spark.ivy_dir)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
