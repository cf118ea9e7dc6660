# terraform test against the real AWS provider, offline: policy documents are rendered locally
# by the provider, credentials are never checked and the caller identity is overridden. The
# assertions read the rendered JSON, i.e. exactly what AWS would receive.

provider "aws" {
  region                      = "eu-west-1"
  access_key                  = "offline-test"
  secret_key                  = "offline-test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}

override_data {
  target = data.aws_caller_identity.current
  values = { account_id = "123456789012" }
}

variables {
  name = "tracelake-test"
  bucket_arns = {
    lake      = "arn:aws:s3:::acme-lake"
    exports   = "arn:aws:s3:::acme-exports"
    landing   = "arn:aws:s3:::acme-landing"
    artifacts = "arn:aws:s3:::airflow-acme-artifacts"
  }
  kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/test"
  prefixes    = { landing = "incoming/", datasets = "datasets/", checkpoints = "checkpoints/" }
}

run "analysts_cannot_read_bronze_by_default" {
  command = plan

  assert {
    condition     = !strcontains(data.aws_iam_policy_document.analyst.json, "bronze")
    error_message = "the analyst policy must not mention bronze unless analysts_read_bronze"
  }
  assert {
    condition     = strcontains(data.aws_iam_policy_document.analyst.json, "arn:aws:s3:::acme-lake/silver/*")
    error_message = "analysts read silver"
  }
}

run "analysts_read_bronze_when_granted" {
  command = plan
  variables {
    analysts_read_bronze = true
  }

  assert {
    condition     = strcontains(data.aws_iam_policy_document.analyst.json, "arn:aws:s3:::acme-lake/bronze/*")
    error_message = "analysts_read_bronze grants bronze"
  }
}

run "trainer_never_touches_the_lake" {
  command = plan

  assert {
    condition     = !strcontains(data.aws_iam_policy_document.trainer.json, "acme-lake")
    error_message = "the trainer policy must not name the lake bucket"
  }
  assert {
    condition = alltrue([
      for statement in jsondecode(data.aws_iam_policy_document.trainer.json).Statement :
      !contains(flatten([statement.Action]), "s3:PutObject") || alltrue([for r in flatten([statement.Resource]) : startswith(r, "arn:aws:s3:::acme-exports/checkpoints/")])
    ])
    error_message = "the trainer writes only under the exports bucket's checkpoints/"
  }
}

run "only_erasure_bypasses_object_lock" {
  command = plan

  assert {
    condition     = strcontains(data.aws_iam_policy_document.erasure.json, "s3:BypassGovernanceRetention")
    error_message = "the erasure role needs governance bypass"
  }
  assert {
    condition = alltrue([for doc in [data.aws_iam_policy_document.ingest, data.aws_iam_policy_document.spark, data.aws_iam_policy_document.airflow, data.aws_iam_policy_document.trainer, data.aws_iam_policy_document.analyst] :
    !strcontains(doc.json, "Bypass") && !strcontains(doc.json, "DeleteObjectVersion")])
    error_message = "no other role may bypass governance or delete object versions"
  }
}
