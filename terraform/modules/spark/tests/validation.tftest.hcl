# terraform test (offline: the AWS provider is mocked).

mock_provider "aws" {}

variables {
  name              = "tracelake-test"
  subnet_ids        = ["subnet-a", "subnet-b"]
  security_group_id = "sg-batch"
  artifacts_bucket  = "airflow-acme-artifacts"
  job_role_arn      = "arn:aws:iam::123456789012:role/tracelake-test-spark"
  logs_uri          = "s3://acme-lake/ops/logs/spark/"
  kms_key_arn       = "arn:aws:kms:eu-west-1:123456789012:key/test"
}

run "jobs_get_the_project_delta_release_built_for_emr_spark" {
  command = plan

  assert {
    condition     = strcontains(output.spark_conf["spark.jars"], "delta-spark_4.1_2.13-4.4.1.jar")
    error_message = "delta-spark 4.4.1 in its Spark 4.1 build must be on the job's classpath"
  }
  assert {
    condition     = output.spark_conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    error_message = "the Delta SQL extension must be configured"
  }
  assert {
    condition     = output.python_env_archive == "s3://airflow-acme-artifacts/spark/tracelake-env.tar.gz"
    error_message = "the stock image unpacks the packed environment"
  }
}

run "refuses_a_spark_3_release" {
  command = plan
  variables {
    release_label = "emr-7.8.0"
  }
  expect_failures = [var.release_label]
}
