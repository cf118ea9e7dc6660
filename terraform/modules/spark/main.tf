# EMR Serverless runs the same job entry point as the CLI and Airflow (tracelake/jobs/submit.py
# <job>). Workers have no internet: the project wheel, a packed Python environment and the Delta
# jars come from the artifacts bucket through the S3 gateway endpoint, never from Maven or PyPI.

locals {
  spark_prefix = "s3://${var.artifacts_bucket}/spark"
  delta_jars = [
    "${local.spark_prefix}/jars/delta-spark_${var.spark_minor_version}_${var.scala_binary_version}-${var.delta_version}.jar",
    "${local.spark_prefix}/jars/delta-storage-${var.delta_version}.jar",
  ]
  entry_point        = "${local.spark_prefix}/submit.py"
  py_files           = ["${local.spark_prefix}/${var.wheel_name}"]
  python_env_archive = "${local.spark_prefix}/tracelake-env.tar.gz"
  python             = "./environment/bin/python"

  spark_conf = merge(
    {
      "spark.jars"                      = join(",", local.delta_jars)
      "spark.submit.pyFiles"            = join(",", local.py_files)
      "spark.sql.extensions"            = "io.delta.sql.DeltaSparkSessionExtension"
      "spark.sql.catalog.spark_catalog" = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
    },
    # A custom image already holds the environment; the stock one unpacks the archive.
    var.image_uri != null ? {} : {
      "spark.archives"                                       = "${local.python_env_archive}#environment"
      "spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON" = local.python
      "spark.emr-serverless.driverEnv.PYSPARK_PYTHON"        = local.python
      "spark.executorEnv.PYSPARK_PYTHON"                     = local.python
    },
  )
}

resource "aws_emrserverless_application" "this" {
  name          = var.name
  release_label = var.release_label
  type          = "spark"
  architecture  = var.architecture

  maximum_capacity {
    cpu    = "${var.max_vcpu} vCPU"
    memory = "${var.max_memory_gb} GB"
  }

  auto_start_configuration {
    enabled = true
  }

  auto_stop_configuration {
    enabled              = true
    idle_timeout_minutes = var.idle_timeout_minutes
  }

  network_configuration {
    subnet_ids         = var.subnet_ids
    security_group_ids = [var.security_group_id]
  }

  dynamic "image_configuration" {
    for_each = var.image_uri == null ? [] : [var.image_uri]
    content {
      image_uri = image_configuration.value
    }
  }

  tags = var.tags
}
