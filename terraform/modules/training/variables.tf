variable "name" {
  description = "Name prefix of the training resources and of the SageMaker training jobs (e.g. tracelake-dev)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  description = "AWS region (for the ARNs in the trainer's runtime policy)."
  type        = string
}

variable "instance_type" {
  description = "SageMaker GPU instance type of the training jobs."
  type        = string
  default     = "ml.g5.2xlarge"

  validation {
    condition     = can(regex("^ml\\.(g[4-9][a-z]*|p[3-9][a-z]*)\\.[0-9]*x?large$", var.instance_type))
    error_message = "instance_type must be a SageMaker GPU instance (ml.g4dn/g5/g6/p4d/p5 families), e.g. \"ml.g5.2xlarge\"."
  }
}

variable "instance_count" {
  description = "Instances per training job (DeepSpeed ZeRO across them)."
  type        = number
  default     = 1

  validation {
    condition     = var.instance_count >= 1 && var.instance_count <= 16
    error_message = "instance_count must be between 1 and 16."
  }
}

variable "volume_size_gb" {
  description = "Training volume per instance in GB (model, optimizer state, local checkpoints)."
  type        = number
  default     = 200
}

variable "max_runtime_hours" {
  description = "Stop a training job after this many hours."
  type        = number
  default     = 24

  validation {
    condition     = var.max_runtime_hours >= 1 && var.max_runtime_hours <= 120
    error_message = "max_runtime_hours must be between 1 and 120 (SageMaker's limit is 5 days)."
  }
}

variable "trainer_role_arn" {
  description = "Role of the training jobs (iam module, role trainer)."
  type        = string
}

variable "trainer_role_name" {
  description = "Name of the trainer role; the module attaches the jobs' runtime permissions to it."
  type        = string
}

variable "security_group_id" {
  description = "Security group of the instances (network module batch_security_group_id)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the training instances."
  type        = list(string)
}

variable "datasets_uri" {
  description = "Where export writes dataset manifests and shards (storage module export_root)."
  type        = string
}

variable "checkpoints_uri" {
  description = "Where training writes checkpoints and run records (storage module checkpoints_uri)."
  type        = string
}

variable "kms_key_arn" {
  description = "Key encrypting the training volumes and outputs."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
}
