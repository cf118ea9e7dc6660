# terraform test of the whole deployment (offline: the AWS provider is mocked). The modules
# wire together and the settings handed to tracelake point at the deployment's buckets.

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
  # Every mocked bucket gets this ARN; the airflow module derives the artifacts bucket's name
  # from it (bad inputs are refused by the modules' own tests).
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::airflow-acme-tracelake-dev-artifacts" }
  }
}

variables {
  name            = "tracelake-dev"
  region          = "eu-west-1"
  bucket_prefix   = "acme-tracelake-dev"
  airflow_version = "3.1.6"
}

run "deployment_plans_and_hands_out_its_settings" {
  command = plan

  assert {
    condition     = output.tracelake_settings.lake_root == "s3://acme-tracelake-dev-lake" && output.tracelake_settings.export_root == "s3://acme-tracelake-dev-exports/datasets" && output.tracelake_settings.landing == "s3://acme-tracelake-dev-landing/incoming"
    error_message = "tracelake settings must point at this deployment's buckets"
  }
  assert {
    condition     = output.airflow_environment["TRACELAKE_AIRFLOW__SPARK_MODE"] == "cluster" && output.airflow_environment["TRACELAKE_LAKE_ROOT"] == output.tracelake_settings.lake_root
    error_message = "the Airflow workers run cluster mode against the same lake"
  }
  assert {
    condition     = strcontains(output.airflow_environment["TRACELAKE_AIRFLOW__CLUSTER__CONF"], "delta-spark_4.1_2.13-4.4.1.jar")
    error_message = "cluster mode must load the project's Delta release"
  }
}
