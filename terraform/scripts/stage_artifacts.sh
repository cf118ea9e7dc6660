#!/usr/bin/env bash
# Build and upload what the Spark workers and MWAA install from S3 (they have no internet):
#   spark/<wheel>, spark/tracelake-env.tar.gz, spark/submit.py, spark/jars/*.jar,
#   airflow/plugins.zip (wheels for requirements.txt).
# Usage: terraform/scripts/stage_artifacts.sh <dev|prod>   (after the storage module is applied)
# Needs: python3 (3.11, the EMR workers' Python), pip, curl, zip, the aws CLI.
# Build on the workers' platform (Amazon Linux 2023, x86_64 unless architecture = ARM64), e.g.
# in an amazonlinux:2023 container, so compiled dependencies match.
set -euo pipefail

env_name="${1:?usage: stage_artifacts.sh <dev|prod>}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
env_dir="$root/terraform/environments/$env_name"
[ -d "$env_dir" ] || { echo "no environment $env_name under terraform/environments" >&2; exit 2; }

# Read from terraform.tfvars, not from outputs: this runs before the full apply.
tfvar() { sed -nE "s/^$1 *= *\"([^\"]+)\".*/\1/p" "$env_dir/terraform.tfvars"; }
bucket="${ARTIFACTS_BUCKET:-airflow-$(tfvar bucket_prefix)-artifacts}"
delta_version="${DELTA_VERSION:-4.4.1}"
spark_line="${SPARK_LINE:-4.1}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== wheel"
python3 -m pip wheel --no-deps "$root" -w "$work/dist" >/dev/null
wheel="$(basename "$work"/dist/tracelake-*.whl)"

echo "== Python environment for the Spark workers (EMR provides pyspark)"
python3 -m venv "$work/env"
"$work/env/bin/pip" install -q "$work/dist/$wheel" pandas venv-pack
"$work/env/bin/venv-pack" -p "$work/env" -o "$work/tracelake-env.tar.gz" -q

echo "== Delta jars (delta-spark $delta_version for Spark $spark_line)"
maven="https://repo1.maven.org/maven2/io/delta"
curl -fsSL -o "$work/delta-spark_${spark_line}_2.13-$delta_version.jar" \
  "$maven/delta-spark_${spark_line}_2.13/$delta_version/delta-spark_${spark_line}_2.13-$delta_version.jar"
curl -fsSL -o "$work/delta-storage-$delta_version.jar" \
  "$maven/delta-storage/$delta_version/delta-storage-$delta_version.jar"

echo "== plugins.zip for MWAA (tracelake without the spark extra, the Amazon provider)"
# MWAA's Python and Airflow version: the constraints file of that Airflow release goes into the
# archive too, since requirements.txt must name one and the environment cannot download it.
mwaa_python="${MWAA_PYTHON:-3.12}"
airflow_version="${AIRFLOW_VERSION:-$(tfvar airflow_version)}"
mkdir -p "$work/plugins"
curl -fsSL -o "$work/plugins/constraints.txt" \
  "https://raw.githubusercontent.com/apache/airflow/constraints-$airflow_version/constraints-$mwaa_python.txt"
python3 -m pip download -q -d "$work/plugins" --only-binary=:all: \
  --python-version "$mwaa_python" --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
  -c "$work/plugins/constraints.txt" "$work/dist/$wheel" apache-airflow-providers-amazon
(cd "$work/plugins" && zip -q -r "$work/plugins.zip" .)

echo "== upload to s3://$bucket"
aws s3 cp "$work/dist/$wheel" "s3://$bucket/spark/$wheel"
aws s3 cp "$work/tracelake-env.tar.gz" "s3://$bucket/spark/tracelake-env.tar.gz"
aws s3 cp "$root/jobs/submit.py" "s3://$bucket/spark/submit.py"
aws s3 cp "$work/delta-spark_${spark_line}_2.13-$delta_version.jar" "s3://$bucket/spark/jars/"
aws s3 cp "$work/delta-storage-$delta_version.jar" "s3://$bucket/spark/jars/"
aws s3 cp "$work/plugins.zip" "s3://$bucket/airflow/plugins.zip"

version="$(aws s3api head-object --bucket "$bucket" --key airflow/plugins.zip --query VersionId --output text)"
echo "set in $env_dir/terraform.tfvars:  airflow_plugins_version = \"$version\""
