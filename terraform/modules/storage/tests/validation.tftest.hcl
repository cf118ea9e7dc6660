# terraform test (offline: the AWS provider is mocked). A good input plans; each bad input is
# refused by its validation block.

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
  bucket_prefix = "acme-tracelake-dev"
}

run "plans_with_defaults" {
  command = plan

  assert {
    condition     = aws_s3_bucket.data["lake"].object_lock_enabled
    error_message = "the lake bucket must have Object Lock enabled"
  }
  assert {
    condition     = !aws_s3_bucket.data["exports"].object_lock_enabled
    error_message = "only the lake bucket is object-locked"
  }
  assert {
    condition     = one(one(aws_s3_bucket_object_lock_configuration.lake.rule).default_retention).mode == "GOVERNANCE"
    error_message = "the lake's default retention must be GOVERNANCE mode"
  }
  assert {
    condition     = aws_s3_bucket.data["artifacts"].bucket == "airflow-acme-tracelake-dev-artifacts"
    error_message = "MWAA needs an artifacts bucket whose name starts with airflow-"
  }
  assert {
    condition     = output.lake_root == "s3://acme-tracelake-dev-lake"
    error_message = "lake_root must be the lake bucket's root"
  }
}

run "refuses_bucket_prefix_with_dots" {
  command = plan
  variables {
    bucket_prefix = "Acme.Tracelake"
  }
  expect_failures = [var.bucket_prefix]
}

run "refuses_bucket_prefix_too_long" {
  command = plan
  variables {
    bucket_prefix = "a-very-long-prefix-that-would-overflow-the-63-characters"
  }
  expect_failures = [var.bucket_prefix]
}

run "refuses_lock_retention_below_minimum" {
  command = plan
  variables {
    object_lock_retention_days = 0
  }
  expect_failures = [var.object_lock_retention_days]
}

run "refuses_lock_longer_than_vacuum" {
  command = plan
  variables {
    vacuum_retention_days      = 7
    object_lock_retention_days = 30
  }
  expect_failures = [var.object_lock_retention_days]
}
