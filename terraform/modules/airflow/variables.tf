variable "name" {
  description = "Name of the MWAA environment (e.g. tracelake-dev)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z][0-9a-zA-Z_-]{0,79}$", var.name))
    error_message = "name must start with a letter and hold at most 80 letters, digits, hyphens or underscores (MWAA environment names)."
  }
}

variable "region" {
  description = "AWS region of the environment (for the ARNs in the execution role's policy)."
  type        = string
}

variable "airflow_version" {
  description = "MWAA Airflow version. The DAGs need Airflow 3.1 or later (Assets, deadline alerts); take the newest 3.x MWAA lists."
  type        = string

  validation {
    condition     = can(regex("^3\\.([1-9]|[1-9][0-9])\\.[0-9]+$", var.airflow_version))
    error_message = "airflow_version must be an Airflow 3.1+ version MWAA offers, e.g. \"3.1.6\": the DAGs use Airflow 3 Assets and deadline alerts, which Airflow 2.x and 3.0 lack."
  }
}

variable "environment_class" {
  description = "MWAA environment class."
  type        = string
  default     = "mw1.small"

  validation {
    condition     = contains(["mw1.micro", "mw1.small", "mw1.medium", "mw1.large", "mw1.xlarge", "mw1.2xlarge"], var.environment_class)
    error_message = "environment_class must be one of mw1.micro, mw1.small, mw1.medium, mw1.large, mw1.xlarge, mw1.2xlarge."
  }
}

variable "min_workers" {
  description = "Minimum number of Celery workers."
  type        = number
  default     = 1
}

variable "max_workers" {
  description = "Maximum number of Celery workers."
  type        = number
  default     = 4

  validation {
    condition     = var.max_workers >= 1 && var.max_workers <= 25
    error_message = "max_workers must be between 1 and 25."
  }
}

variable "webserver_access_mode" {
  description = "PRIVATE_ONLY (reach the UI through the VPC) or PUBLIC_ONLY (IAM-authenticated public URL)."
  type        = string
  default     = "PRIVATE_ONLY"

  validation {
    condition     = contains(["PRIVATE_ONLY", "PUBLIC_ONLY"], var.webserver_access_mode)
    error_message = "webserver_access_mode must be PRIVATE_ONLY or PUBLIC_ONLY."
  }
}

variable "vpc_id" {
  description = "VPC of the environment (network module)."
  type        = string
}

variable "vpc_cidr_block" {
  description = "CIDR of the VPC, for HTTPS to the interface endpoints and the metadata database endpoint."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets; MWAA uses exactly two, in different availability zones (the first two are taken)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids must hold at least two private subnets in different availability zones."
  }
}

variable "s3_prefix_list_id" {
  description = "Prefix list of the S3 gateway endpoint."
  type        = string
}

variable "execution_role_arn" {
  description = "Execution role (iam module, role airflow)."
  type        = string
}

variable "execution_role_name" {
  description = "Name of the execution role; the module attaches the environment's runtime permissions to it."
  type        = string
}

variable "artifacts_bucket_arn" {
  description = "ARN of the artifacts bucket (its name starts with airflow-, as MWAA requires). DAGs live under airflow/dags/."
  type        = string
}

variable "requirements" {
  description = "Lines of requirements.txt. With no internet in the VPC, install from wheels shipped in plugins.zip (--no-index --find-links), with the Airflow constraints file shipped there too (MWAA wants a --constraint line and cannot fetch one)."
  type        = list(string)
  default = [
    "--no-index",
    "--find-links /usr/local/airflow/plugins",
    "--constraint /usr/local/airflow/plugins/constraints.txt",
    "tracelake",
    "apache-airflow-providers-amazon",
  ]
}

variable "plugins_s3_object_version" {
  description = "S3 version ID of airflow/plugins.zip (the wheels), uploaded by scripts/stage_artifacts.sh; null when not staged yet."
  type        = string
  default     = null
}

variable "tracelake_environment" {
  description = "Environment variables exported by the startup script: TRACELAKE_* settings and TRACELAKE_AIRFLOW__* orchestration settings. No secrets: tasks use the execution role."
  type        = map(string)

  validation {
    condition     = alltrue([for key in keys(var.tracelake_environment) : can(regex("^TRACELAKE_[A-Z0-9_]+$", key))])
    error_message = "tracelake_environment keys must be TRACELAKE_* variable names (upper case, digits, underscores)."
  }
}

variable "spark_application_arn" {
  description = "EMR Serverless application the DAGs start job runs on."
  type        = string
}

variable "spark_job_role_arn" {
  description = "Execution role passed to EMR Serverless job runs."
  type        = string
}

variable "trainer_role_arn" {
  description = "Role passed to SageMaker training jobs."
  type        = string
}

variable "training_job_prefix" {
  description = "Name prefix of the SageMaker training jobs the DAGs may create and stop."
  type        = string
}

variable "landing_queue_arn" {
  description = "SQS queue of landing ObjectCreated events the ingest DAG may consume."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
}
