variable "name" {
  description = "Name prefix of the network resources (e.g. tracelake-dev)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  description = "AWS region of the VPC; names the endpoint services (com.amazonaws.<region>.<service>)."
  type        = string

  validation {
    condition = contains([
      "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "ca-west-1",
      "sa-east-1", "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-central-2",
      "eu-north-1", "eu-south-1", "eu-south-2", "ap-south-1", "ap-south-2", "ap-southeast-1",
      "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-northeast-1", "ap-northeast-2",
      "ap-northeast-3", "ap-east-1", "me-central-1", "me-south-1", "af-south-1", "il-central-1",
    ], var.region)
    error_message = "region must be an AWS commercial region where EMR Serverless, MWAA and SageMaker run, e.g. \"eu-west-1\" or \"us-east-1\" (see the network module README for the list)."
  }
}

variable "cidr_block" {
  description = "IPv4 CIDR of the VPC; split into one private subnet per availability zone."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && tonumber(split("/", var.cidr_block)[1]) <= 20
    error_message = "cidr_block must be an IPv4 CIDR of /20 or larger, e.g. \"10.40.0.0/16\"."
  }
}

variable "az_count" {
  description = "Number of availability zones (and private subnets). MWAA needs exactly two subnets; the airflow module takes the first two."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 3
    error_message = "az_count must be 2 or 3."
  }
}

variable "availability_zones" {
  description = "Zone names of the private subnets; null: <region>a, <region>b (and c when az_count is 3)."
  type        = list(string)
  default     = null

  validation {
    condition     = var.availability_zones == null || alltrue([for zone in coalesce(var.availability_zones, []) : can(regex("^[a-z]{2}-[a-z]+-[0-9][a-z]$", zone))])
    error_message = "availability_zones must be zone names such as \"eu-west-1a\"."
  }
}

variable "interface_endpoints" {
  description = "AWS services reached through interface endpoints, so private subnets need no NAT gateway."
  type        = list(string)
  default = [
    "sts", "logs", "monitoring", "sqs", "kms", "ecr.api", "ecr.dkr",
    "emr-serverless", "airflow.api", "airflow.env", "airflow.ops",
    "sagemaker.api", "events",
  ]
}

variable "flow_log_bucket_arn" {
  description = "ARN of the bucket receiving VPC flow logs (the storage module's logs bucket)."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
}
