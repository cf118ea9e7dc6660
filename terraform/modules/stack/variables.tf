variable "name" {
  description = "Name of the deployment (e.g. tracelake-dev); prefixes roles, the VPC, the Spark application, the Airflow environment and training jobs."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 lowercase letters, digits or hyphens, starting with a letter, e.g. \"tracelake-dev\"."
  }
}

variable "region" {
  description = "AWS region of every resource."
  type        = string
}

variable "bucket_prefix" {
  description = "Prefix of the bucket names; bucket names are global, so include something of your organisation."
  type        = string
}

variable "vpc_cidr_block" {
  description = "IPv4 CIDR of the VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "vacuum_retention_days" {
  description = "VACUUM retention of the lake (tracelake maintain)."
  type        = number
  default     = 7
}

variable "object_lock_retention_days" {
  description = "Object Lock (GOVERNANCE) retention of lake object versions; at most vacuum_retention_days."
  type        = number
  default     = 7
}

variable "force_destroy" {
  description = "Let terraform destroy empty non-empty buckets (throwaway environments only)."
  type        = bool
  default     = false
}

variable "spark_release_label" {
  description = "EMR Serverless release of the Spark application."
  type        = string
  default     = "emr-spark-8.2.0"
}

variable "spark_minor_version" {
  description = "Spark line (major.minor) of spark_release_label."
  type        = string
  default     = "4.1"
}

variable "delta_version" {
  description = "delta-spark release of the jobs."
  type        = string
  default     = "4.4.1"
}

variable "spark_max_vcpu" {
  description = "Upper bound of the Spark application's vCPUs."
  type        = number
  default     = 64
}

variable "spark_max_memory_gb" {
  description = "Upper bound of the Spark application's memory in GB."
  type        = number
  default     = 256
}

variable "airflow_version" {
  description = "MWAA Airflow version (3.1 or later)."
  type        = string
}

variable "airflow_environment_class" {
  description = "MWAA environment class."
  type        = string
  default     = "mw1.small"
}

variable "airflow_max_workers" {
  description = "Maximum MWAA workers."
  type        = number
  default     = 4
}

variable "airflow_plugins_version" {
  description = "S3 version ID of airflow/plugins.zip once scripts/stage_artifacts.sh uploaded it; null before."
  type        = string
  default     = null
}

variable "training_instance_type" {
  description = "SageMaker GPU instance type."
  type        = string
  default     = "ml.g5.2xlarge"
}

variable "training_instance_count" {
  description = "Instances per training job."
  type        = number
  default     = 1
}

variable "analyst_principal_arns" {
  description = "Principals allowed to assume the analyst role."
  type        = list(string)
  default     = []
}

variable "analysts_read_bronze" {
  description = "Grant analysts read access to raw bronze."
  type        = bool
  default     = false
}

variable "erasure_principal_arns" {
  description = "Principals allowed to assume the erasure role (with MFA)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
