# Amazon MWAA with Airflow 3: DAGs, requirements, plugins (wheels) and a startup script are
# synced from the artifacts bucket. The startup script exports the tracelake settings, so the
# DAGs' cluster mode is configured from this stack's outputs and nothing is typed by hand.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id  = data.aws_caller_identity.current.account_id
  partition   = data.aws_partition.current.partition
  bucket_name = element(split(":", var.artifacts_bucket_arn), 5)
  env_arn     = "arn:${local.partition}:airflow:${var.region}:${local.account_id}:environment/${var.name}"

  # POSIX single quoting: ' becomes '\''.
  startup_script = join("\n", concat(
    ["#!/bin/sh", "# Written by terraform (modules/airflow); edits are overwritten."],
    [for key in sort(keys(var.tracelake_environment)) :
    "export ${key}='${replace(var.tracelake_environment[key], "'", "'\\''")}'"],
    [""],
  ))
}

resource "aws_s3_object" "requirements" {
  bucket       = local.bucket_name
  key          = "airflow/requirements.txt"
  content      = join("\n", concat(var.requirements, [""]))
  content_type = "text/plain"
}

resource "aws_s3_object" "startup" {
  bucket       = local.bucket_name
  key          = "airflow/startup.sh"
  content      = local.startup_script
  content_type = "text/x-shellscript"
}

resource "aws_security_group" "airflow" {
  name        = "${var.name}-airflow"
  description = "MWAA scheduler, workers and web server"
  vpc_id      = var.vpc_id

  ingress {
    description = "MWAA components talk to each other"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    self        = true
  }

  egress {
    description = "MWAA components talk to each other"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    self        = true
  }

  egress {
    description = "HTTPS to the interface endpoints"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr_block]
  }

  egress {
    description = "Metadata database through its VPC endpoint"
    from_port   = 5432
    to_port     = 5432
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr_block]
  }

  egress {
    description     = "HTTPS to S3 through the gateway endpoint"
    from_port       = 443
    to_port         = 443
    protocol        = "tcp"
    prefix_list_ids = [var.s3_prefix_list_id]
  }

  tags = merge(var.tags, { Name = "${var.name}-airflow" })
}

resource "aws_mwaa_environment" "this" {
  name                  = var.name
  airflow_version       = var.airflow_version
  environment_class     = var.environment_class
  min_workers           = var.min_workers
  max_workers           = var.max_workers
  execution_role_arn    = var.execution_role_arn
  source_bucket_arn     = var.artifacts_bucket_arn
  webserver_access_mode = var.webserver_access_mode

  dag_s3_path                      = "airflow/dags"
  requirements_s3_path             = aws_s3_object.requirements.key
  requirements_s3_object_version   = aws_s3_object.requirements.version_id
  startup_script_s3_path           = aws_s3_object.startup.key
  startup_script_s3_object_version = aws_s3_object.startup.version_id
  plugins_s3_path                  = var.plugins_s3_object_version == null ? null : "airflow/plugins.zip"
  plugins_s3_object_version        = var.plugins_s3_object_version

  airflow_configuration_options = {
    "core.load_examples" = "False"
  }

  network_configuration {
    security_group_ids = [aws_security_group.airflow.id]
    subnet_ids         = slice(var.subnet_ids, 0, 2)
  }

  logging_configuration {
    dag_processing_logs {
      enabled   = true
      log_level = "INFO"
    }
    scheduler_logs {
      enabled   = true
      log_level = "INFO"
    }
    task_logs {
      enabled   = true
      log_level = "INFO"
    }
    webserver_logs {
      enabled   = true
      log_level = "WARNING"
    }
    worker_logs {
      enabled   = true
      log_level = "INFO"
    }
  }

  tags = var.tags
}

# What the environment itself needs (metrics, logs, its Celery queues) and what the DAGs drive:
# EMR Serverless job runs, SageMaker training jobs, the landing events queue. Data access is the
# iam module's.
data "aws_iam_policy_document" "runtime" {
  statement {
    sid       = "PublishMetrics"
    actions   = ["airflow:PublishMetrics"]
    resources = [local.env_arn]
  }
  statement {
    sid = "OwnLogs"
    actions = [
      "logs:CreateLogStream", "logs:CreateLogGroup", "logs:PutLogEvents", "logs:GetLogEvents",
      "logs:GetLogRecord", "logs:GetLogGroupFields", "logs:GetQueryResults",
    ]
    resources = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:airflow-${var.name}-*"]
  }
  statement {
    sid       = "ListLogGroups"
    actions   = ["logs:DescribeLogGroups"]
    resources = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:*"]
  }
  statement {
    sid       = "CloudWatchMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # PutMetricData has no resource type
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["AmazonMWAA"]
    }
  }
  statement {
    sid = "CeleryQueues"
    actions = [
      "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:SendMessage",
    ]
    # MWAA's Celery queues live in an account of the service.
    resources = ["arn:${local.partition}:sqs:${var.region}:*:airflow-celery-*"]
  }
  statement {
    sid           = "CeleryQueueEncryption"
    actions       = ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey", "kms:Encrypt"]
    not_resources = ["arn:${local.partition}:kms:*:${local.account_id}:key/*"]
    condition {
      test     = "StringLike"
      variable = "kms:ViaService"
      values   = ["sqs.${var.region}.amazonaws.com"]
    }
  }
  statement {
    sid       = "LandingEvents"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ChangeMessageVisibility"]
    resources = [var.landing_queue_arn]
  }
  statement {
    sid       = "RunSparkJobs"
    actions   = ["emr-serverless:StartJobRun", "emr-serverless:GetApplication", "emr-serverless:StartApplication"]
    resources = [var.spark_application_arn]
  }
  statement {
    sid       = "WatchSparkJobs"
    actions   = ["emr-serverless:GetJobRun", "emr-serverless:CancelJobRun", "emr-serverless:GetDashboardForJobRun"]
    resources = ["${var.spark_application_arn}/jobruns/*"]
  }
  statement {
    sid       = "RunTraining"
    actions   = ["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob", "sagemaker:AddTags"]
    resources = ["arn:${local.partition}:sagemaker:${var.region}:${local.account_id}:training-job/${var.training_job_prefix}*"]
  }
  statement {
    sid       = "PassSparkRole"
    actions   = ["iam:PassRole"]
    resources = [var.spark_job_role_arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["emr-serverless.amazonaws.com"]
    }
  }
  statement {
    sid       = "PassTrainerRole"
    actions   = ["iam:PassRole"]
    resources = [var.trainer_role_arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["sagemaker.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "runtime" {
  name   = "runtime"
  role   = var.execution_role_name
  policy = data.aws_iam_policy_document.runtime.json
}
