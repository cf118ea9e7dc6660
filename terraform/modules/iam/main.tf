# One role per component, each allowed exactly the buckets, prefixes and actions it uses. No
# statement allows a wildcard action or a "*" resource on a bucket. The component modules
# (spark, airflow, training) add the service-side permissions (starting jobs, logs, network
# interfaces) to these roles; this module owns all data access.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  root_arn   = "arn:${data.aws_partition.current.partition}:iam::${local.account_id}:root"

  lake      = var.bucket_arns["lake"]
  exports   = var.bucket_arns["exports"]
  landing   = var.bucket_arns["landing"]
  artifacts = var.bucket_arns["artifacts"]

  # Top-level prefixes of the lake bucket (lake_root = the bucket): tables at <tier>/<name>/,
  # job results under _tracelake/.
  lake_tiers_all     = ["bronze/", "silver/", "gold/", "ops/", "_tracelake/"]
  analyst_lake_tiers = concat(["silver/", "gold/", "ops/"], var.analysts_read_bronze ? ["bronze/"] : [])

  kms_read  = ["kms:Decrypt", "kms:DescribeKey"]
  kms_write = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]

  object_read  = ["s3:GetObject", "s3:GetObjectVersion"]
  object_write = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
}

# ---------------------------------------------------------------- trust policies

data "aws_iam_policy_document" "trust_service" {
  for_each = {
    spark   = ["emr-serverless.amazonaws.com"]
    airflow = ["airflow.amazonaws.com", "airflow-env.amazonaws.com"]
    trainer = ["sagemaker.amazonaws.com"]
    ingest  = ["ecs-tasks.amazonaws.com"]
  }
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = each.value
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "trust_analyst" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = length(var.analyst_principal_arns) > 0 ? var.analyst_principal_arns : [local.root_arn]
    }
  }
}

data "aws_iam_policy_document" "trust_erasure" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = length(var.erasure_principal_arns) > 0 ? var.erasure_principal_arns : [local.root_arn]
    }
    condition {
      test     = "Bool"
      variable = "aws:MultiFactorAuthPresent"
      values   = ["true"]
    }
  }
}

resource "aws_iam_role" "service" {
  for_each             = data.aws_iam_policy_document.trust_service
  name                 = "${var.name}-${each.key}"
  description          = "tracelake ${each.key}"
  assume_role_policy   = each.value.json
  max_session_duration = 3600
  tags                 = merge(var.tags, { "tracelake:component" = each.key })
}

resource "aws_iam_role" "analyst" {
  name                 = "${var.name}-analyst"
  description          = "tracelake analysts: read-only silver, gold, ops and exported datasets"
  assume_role_policy   = data.aws_iam_policy_document.trust_analyst.json
  max_session_duration = 3600 * 8
  tags                 = merge(var.tags, { "tracelake:component" = "analyst" })
}

resource "aws_iam_role" "erasure" {
  name                 = "${var.name}-erasure"
  description          = "tracelake erase: the one audited exception to append-only (bypasses Object Lock governance)"
  assume_role_policy   = data.aws_iam_policy_document.trust_erasure.json
  max_session_duration = 3600
  tags                 = merge(var.tags, { "tracelake:component" = "erasure" })
}

# ---------------------------------------------------------------- ingest
# Reads new files under landing, appends to bronze and writes the ops tables (landing ledger,
# job runs). Deleting in bronze only adds delete markers: Object Lock keeps every version.

data "aws_iam_policy_document" "ingest" {
  statement {
    sid       = "ListLanding"
    actions   = ["s3:ListBucket"]
    resources = [local.landing]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.prefixes["landing"]}*"]
    }
  }
  statement {
    sid       = "ReadLanding"
    actions   = local.object_read
    resources = ["${local.landing}/${var.prefixes["landing"]}*"]
  }
  statement {
    sid       = "ListLakeBronzeOps"
    actions   = ["s3:ListBucket"]
    resources = [local.lake]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["bronze/*", "ops/*"]
    }
  }
  statement {
    sid       = "WriteBronzeOps"
    actions   = local.object_write
    resources = ["${local.lake}/bronze/*", "${local.lake}/ops/*"]
  }
  statement {
    sid       = "UseDataKey"
    actions   = local.kms_write
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "ingest" {
  name   = "data"
  role   = aws_iam_role.service["ingest"].id
  policy = data.aws_iam_policy_document.ingest.json
}

# ---------------------------------------------------------------- spark jobs
# Read every tier; write the derived tiers, ops and job results; write and delete in bronze only
# for maintenance (compaction rewrites with dataChange=false, VACUUM of unreferenced files),
# which Object Lock turns into new versions and delete markers. Export writes datasets.

data "aws_iam_policy_document" "spark" {
  statement {
    sid       = "ListLake"
    actions   = ["s3:ListBucket"]
    resources = [local.lake]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [for tier in local.lake_tiers_all : "${tier}*"]
    }
  }
  statement {
    sid       = "WriteLake"
    actions   = local.object_write
    resources = [for tier in local.lake_tiers_all : "${local.lake}/${tier}*"]
  }
  statement {
    sid       = "ListDatasets"
    actions   = ["s3:ListBucket"]
    resources = [local.exports]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.prefixes["datasets"]}*"]
    }
  }
  statement {
    sid       = "WriteDatasets"
    actions   = local.object_write
    resources = ["${local.exports}/${var.prefixes["datasets"]}*"]
  }
  statement {
    sid       = "ReadSparkArtifacts"
    actions   = local.object_read
    resources = ["${local.artifacts}/spark/*"]
  }
  statement {
    sid       = "UseDataKey"
    actions   = local.kms_write
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "spark" {
  name   = "data"
  role   = aws_iam_role.service["spark"].id
  policy = data.aws_iam_policy_document.spark.json
}

# ---------------------------------------------------------------- airflow
# Reads its DAGs, requirements, plugins and startup script; runs ingest in the worker (the
# ingest permissions above) and reads the job results cluster-mode drivers write.

data "aws_iam_policy_document" "airflow" {
  source_policy_documents = [data.aws_iam_policy_document.ingest.json]

  statement {
    sid       = "ReadAirflowArtifacts"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation", "s3:GetBucketVersioning", "s3:GetBucketPublicAccessBlock"]
    resources = [local.artifacts]
  }
  statement {
    sid       = "ReadAirflowObjects"
    actions   = local.object_read
    resources = ["${local.artifacts}/airflow/*"]
  }
  statement {
    sid       = "MwaaChecksAccountPublicAccessBlock"
    actions   = ["s3:GetAccountPublicAccessBlock"]
    resources = ["*"] # account-level action: it has no resource type to name
  }
  statement {
    sid       = "ReadJobResults"
    actions   = local.object_read
    resources = ["${local.lake}/_tracelake/*"]
  }
}

resource "aws_iam_role_policy" "airflow" {
  name   = "data"
  role   = aws_iam_role.service["airflow"].id
  policy = data.aws_iam_policy_document.airflow.json
}

# ---------------------------------------------------------------- trainer
# Reads dataset manifests and shards; writes checkpoints and run records. Never the lake.

data "aws_iam_policy_document" "trainer" {
  statement {
    sid       = "ListExports"
    actions   = ["s3:ListBucket"]
    resources = [local.exports]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.prefixes["datasets"]}*", "${var.prefixes["checkpoints"]}*"]
    }
  }
  statement {
    sid       = "ReadDatasets"
    actions   = local.object_read
    resources = ["${local.exports}/${var.prefixes["datasets"]}*"]
  }
  statement {
    sid       = "WriteCheckpoints"
    actions   = local.object_write
    resources = ["${local.exports}/${var.prefixes["checkpoints"]}*"]
  }
  statement {
    sid       = "UseDataKey"
    actions   = local.kms_write
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "trainer" {
  name   = "data"
  role   = aws_iam_role.service["trainer"].id
  policy = data.aws_iam_policy_document.trainer.json
}

# ---------------------------------------------------------------- analysts
# Read-only: silver, gold and ops (bronze only when analysts_read_bronze), exported datasets.

data "aws_iam_policy_document" "analyst" {
  statement {
    sid       = "ListLakeTiers"
    actions   = ["s3:ListBucket"]
    resources = [local.lake]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [for tier in local.analyst_lake_tiers : "${tier}*"]
    }
  }
  statement {
    sid       = "ReadLakeTiers"
    actions   = local.object_read
    resources = [for tier in local.analyst_lake_tiers : "${local.lake}/${tier}*"]
  }
  statement {
    sid       = "ListDatasets"
    actions   = ["s3:ListBucket"]
    resources = [local.exports]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.prefixes["datasets"]}*"]
    }
  }
  statement {
    sid       = "ReadDatasets"
    actions   = local.object_read
    resources = ["${local.exports}/${var.prefixes["datasets"]}*"]
  }
  statement {
    sid       = "DecryptData"
    actions   = local.kms_read
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "analyst" {
  name   = "data"
  role   = aws_iam_role.analyst.id
  policy = data.aws_iam_policy_document.analyst.json
}

# ---------------------------------------------------------------- erasure
# tracelake erase rewrites bronze and the derived tables without a subject's events and removes
# the old object versions before their Object Lock retention ends.

data "aws_iam_policy_document" "erasure" {
  statement {
    sid       = "ListLake"
    actions   = ["s3:ListBucket", "s3:ListBucketVersions"]
    resources = [local.lake]
  }
  statement {
    sid = "RewriteAndPurgeVersions"
    actions = concat(local.object_write, [
      "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention", "s3:GetObjectRetention",
    ])
    resources = [for tier in local.lake_tiers_all : "${local.lake}/${tier}*"]
  }
  statement {
    sid       = "UseDataKey"
    actions   = local.kms_write
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "erasure" {
  name   = "data"
  role   = aws_iam_role.erasure.id
  policy = data.aws_iam_policy_document.erasure.json
}
