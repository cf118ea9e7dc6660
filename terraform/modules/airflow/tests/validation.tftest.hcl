# terraform test (offline: the AWS provider is mocked).

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{}" }
  }
}

variables {
  name                  = "tracelake-test"
  region                = "eu-west-1"
  airflow_version       = "3.1.6"
  vpc_id                = "vpc-test"
  vpc_cidr_block        = "10.40.0.0/16"
  subnet_ids            = ["subnet-a", "subnet-b", "subnet-c"]
  s3_prefix_list_id     = "pl-test"
  execution_role_arn    = "arn:aws:iam::123456789012:role/tracelake-test-airflow"
  execution_role_name   = "tracelake-test-airflow"
  artifacts_bucket_arn  = "arn:aws:s3:::airflow-acme-artifacts"
  spark_application_arn = "arn:aws:emr-serverless:eu-west-1:123456789012:/applications/app"
  spark_job_role_arn    = "arn:aws:iam::123456789012:role/tracelake-test-spark"
  trainer_role_arn      = "arn:aws:iam::123456789012:role/tracelake-test-trainer"
  training_job_prefix   = "tracelake-test-train-"
  landing_queue_arn     = "arn:aws:sqs:eu-west-1:123456789012:acme-landing-events"
  tracelake_environment = {
    TRACELAKE_LAKE_ROOT           = "s3://acme-lake"
    TRACELAKE_AIRFLOW__SPARK_MODE = "cluster"
  }
}

run "startup_script_exports_the_settings" {
  command = plan

  assert {
    condition     = strcontains(aws_s3_object.startup.content, "export TRACELAKE_AIRFLOW__SPARK_MODE='cluster'")
    error_message = "the startup script must export cluster mode"
  }
  assert {
    condition     = aws_mwaa_environment.this.source_bucket_arn == "arn:aws:s3:::airflow-acme-artifacts" && length(one(aws_mwaa_environment.this.network_configuration).subnet_ids) == 2
    error_message = "MWAA syncs from the artifacts bucket and uses exactly two subnets"
  }
}

run "refuses_airflow_2" {
  command = plan
  variables {
    airflow_version = "2.10.3"
  }
  expect_failures = [var.airflow_version]
}
