# The lake, exports, landing and artifacts buckets share one hardened definition (for_each), so
# encryption, versioning, public-access blocks, TLS-only policies, logging and lifecycle cannot
# drift apart between buckets. The logs bucket is separate: S3 server access logging refuses a
# target bucket with SSE-KMS default encryption or an Object Lock default retention.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # MWAA only accepts a source bucket whose name starts with "airflow-".
  bucket_names = {
    lake      = "${var.bucket_prefix}-lake"
    exports   = "${var.bucket_prefix}-exports"
    landing   = "${var.bucket_prefix}-landing"
    artifacts = "airflow-${var.bucket_prefix}-artifacts"
  }
  logs_bucket_name = "${var.bucket_prefix}-logs"

  # Where things live inside the buckets (the iam module grants exactly these prefixes).
  landing_prefix     = "incoming/"
  datasets_prefix    = "datasets/"
  checkpoints_prefix = "checkpoints/"
  ops_logs_prefix    = "ops/logs/"
}

# ---------------------------------------------------------------- encryption key

resource "aws_kms_key" "data" {
  description             = "tracelake ${var.bucket_prefix}: lake, exports, landing and artifacts buckets"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  # No wildcard actions: the account may administer and use the key; roles get their use of it
  # through their own IAM policies (iam module), which this statement makes effective.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministersAndDelegatesThroughIam"
      Effect    = "Allow"
      Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
      Action = [
        "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:CreateGrant", "kms:Decrypt",
        "kms:DeleteAlias", "kms:DescribeKey", "kms:DisableKey", "kms:EnableKey",
        "kms:EnableKeyRotation", "kms:Encrypt", "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus",
        "kms:ListGrants", "kms:ListResourceTags", "kms:PutKeyPolicy", "kms:ReEncryptFrom",
        "kms:ReEncryptTo", "kms:RetireGrant", "kms:RevokeGrant", "kms:ScheduleKeyDeletion",
        "kms:TagResource", "kms:UntagResource", "kms:UpdateAlias", "kms:UpdateKeyDescription",
      ]
      Resource = "*" # in a key policy, "*" means this key
    }]
  })
  tags = var.tags
}

resource "aws_kms_alias" "data" {
  name          = "alias/${var.bucket_prefix}-data"
  target_key_id = aws_kms_key.data.key_id
}

# ---------------------------------------------------------------- data buckets

resource "aws_s3_bucket" "data" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery decision per deployment (a second region, a second key, twice the storage); the lake is rebuildable from bronze and versioned with Object Lock here.
  for_each            = local.bucket_names
  bucket              = each.value
  force_destroy       = var.force_destroy
  object_lock_enabled = each.key == "lake"
  tags                = merge(var.tags, { "tracelake:bucket" = each.key })
}

resource "aws_s3_bucket_ownership_controls" "data" {
  for_each = aws_s3_bucket.data
  bucket   = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "data" {
  for_each                = aws_s3_bucket.data
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "data" {
  for_each = aws_s3_bucket.data
  bucket   = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "data" {
  for_each = aws_s3_bucket.data
  bucket   = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.data.arn
    }
    bucket_key_enabled = true
  }
}

# Append-only at the storage layer: every object version in the lake bucket is locked in
# GOVERNANCE mode for object_lock_retention_days. Only a principal allowed
# s3:BypassGovernanceRetention (the erasure role) can delete a version earlier.
resource "aws_s3_bucket_object_lock_configuration" "lake" {
  bucket = aws_s3_bucket.data["lake"].id
  rule {
    default_retention {
      mode = "GOVERNANCE"
      days = var.object_lock_retention_days
    }
  }
  depends_on = [aws_s3_bucket_versioning.data]
}

resource "aws_s3_bucket_lifecycle_configuration" "data" {
  for_each = aws_s3_bucket.data
  bucket   = each.value.id

  rule {
    id     = "expire-old-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    expiration {
      expired_object_delete_marker = true
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  dynamic "rule" {
    for_each = each.key == "lake" ? [local.ops_logs_prefix] : []
    content {
      id     = "expire-ops-logs"
      status = "Enabled"
      filter {
        prefix = rule.value
      }
      expiration {
        days = var.ops_log_days
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.data]
}

resource "aws_s3_bucket_logging" "data" {
  for_each      = aws_s3_bucket.data
  bucket        = each.value.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/${each.key}/"
}

data "aws_iam_policy_document" "data_bucket" {
  for_each = aws_s3_bucket.data

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value.arn, "${each.value.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "DenyOldTls"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value.arn, "${each.value.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }
}

resource "aws_s3_bucket_policy" "data" {
  for_each   = aws_s3_bucket.data
  bucket     = each.value.id
  policy     = data.aws_iam_policy_document.data_bucket[each.key].json
  depends_on = [aws_s3_bucket_public_access_block.data]
}

# Every bucket reports to EventBridge; the landing bucket also queues new files for ingest.
resource "aws_s3_bucket_notification" "data" {
  for_each    = aws_s3_bucket.data
  bucket      = each.value.id
  eventbridge = true

  dynamic "queue" {
    for_each = each.key == "landing" ? [aws_sqs_queue.landing.arn] : []
    content {
      queue_arn     = queue.value
      events        = ["s3:ObjectCreated:*"]
      filter_prefix = local.landing_prefix
    }
  }

  depends_on = [aws_sqs_queue_policy.landing]
}

# ---------------------------------------------------------------- landing events

resource "aws_sqs_queue" "landing_dlq" {
  name                      = "${var.bucket_prefix}-landing-events-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
}

# SSE-SQS rather than the data key: S3 event delivery cannot use a customer key without
# granting the S3 service principal on it, and the messages hold only object keys.
resource "aws_sqs_queue" "landing" {
  name                       = "${var.bucket_prefix}-landing-events"
  message_retention_seconds  = 345600
  visibility_timeout_seconds = 900
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.landing_dlq.arn
    maxReceiveCount     = 5
  })
  tags = var.tags
}

data "aws_iam_policy_document" "landing_queue" {
  statement {
    sid       = "LandingBucketSendsObjectCreated"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.landing.arn]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.data["landing"].arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sqs_queue_policy" "landing" {
  queue_url = aws_sqs_queue.landing.id
  policy    = data.aws_iam_policy_document.landing_queue.json
}

# ---------------------------------------------------------------- logs bucket

resource "aws_s3_bucket" "logs" {
  #checkov:skip=CKV_AWS_18:This is the access-log target; logging it into itself would log its own log deliveries without end.
  #checkov:skip=CKV_AWS_144:Replicating the access logs would need a log bucket in a second region that in turn needs its own logs; the audit trail is versioned here and kept access_log_days.
  #checkov:skip=CKV_AWS_145:S3 server access log delivery only supports SSE-S3 (AES256) on the target bucket, not SSE-KMS.
  bucket        = local.logs_bucket_name
  force_destroy = var.force_destroy
  tags          = merge(var.tags, { "tracelake:bucket" = "logs" })
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    id     = "expire-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.access_log_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
  depends_on = [aws_s3_bucket_versioning.logs]
}

resource "aws_s3_bucket_notification" "logs" {
  bucket      = aws_s3_bucket.logs.id
  eventbridge = true
}

data "aws_iam_policy_document" "logs_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "S3ServerAccessLogs"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/s3/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "VpcFlowLogsWrite"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/vpc/AWSLogs/${local.account_id}/*"]
    principals {
      type        = "Service"
      identifiers = ["delivery.logs.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "VpcFlowLogsAclCheck"
    effect    = "Allow"
    actions   = ["s3:GetBucketAcl"]
    resources = [aws_s3_bucket.logs.arn]
    principals {
      type        = "Service"
      identifiers = ["delivery.logs.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  bucket     = aws_s3_bucket.logs.id
  policy     = data.aws_iam_policy_document.logs_bucket.json
  depends_on = [aws_s3_bucket_public_access_block.logs]
}
