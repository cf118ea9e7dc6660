# GPU training as SageMaker training jobs: the tracelake_train DAG (cluster mode) creates one per
# run from this module's outputs. The job reads a manifest under the exports bucket's datasets/
# and writes checkpoints under checkpoints/; its role cannot touch the lake.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  ec2_arn    = "arn:${local.partition}:ec2:${var.region}:${local.account_id}"
}

resource "aws_ecr_repository" "trainer" {
  name                 = "${var.name}-trainer"
  image_tag_mutability = "IMMUTABLE"
  force_delete         = false

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }

  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "trainer" {
  repository = aws_ecr_repository.trainer.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the 20 newest trainer images"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 20 }
      action       = { type = "expire" }
    }]
  })
}

data "aws_iam_policy_document" "runtime" {
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken has no resource type
  }
  statement {
    sid       = "PullTrainerImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = [aws_ecr_repository.trainer.arn]
  }
  statement {
    sid       = "TrainingLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:CreateLogGroup", "logs:DescribeLogStreams"]
    resources = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws/sagemaker/TrainingJobs*"]
  }
  statement {
    sid       = "TrainingMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # PutMetricData has no resource type
    condition {
      test     = "StringLike"
      variable = "cloudwatch:namespace"
      values   = ["/aws/sagemaker/TrainingJobs*"]
    }
  }
  statement {
    sid     = "NetworkInterfacesInOwnSubnets"
    actions = ["ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface", "ec2:DeleteNetworkInterfacePermission"]
    resources = concat(
      ["${local.ec2_arn}:network-interface/*", "${local.ec2_arn}:security-group/${var.security_group_id}"],
      [for subnet in var.subnet_ids : "${local.ec2_arn}:subnet/${subnet}"],
    )
  }
  statement {
    sid       = "DescribeNetwork"
    actions   = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs", "ec2:DescribeDhcpOptions", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"]
    resources = ["*"] # EC2 Describe* actions have no resource type
  }
}

resource "aws_iam_role_policy" "runtime" {
  name   = "runtime"
  role   = var.trainer_role_name
  policy = data.aws_iam_policy_document.runtime.json
}
