variable "region" {
  description = "AWS region of the deployment."
  type        = string
}

variable "bucket_prefix" {
  description = "Prefix of the bucket names (globally unique: include your organisation)."
  type        = string
}

variable "airflow_version" {
  description = "MWAA Airflow version (3.1 or later)."
  type        = string
}

variable "airflow_plugins_version" {
  description = "S3 version ID of airflow/plugins.zip after scripts/stage_artifacts.sh; null before."
  type        = string
  default     = null
}

variable "analyst_principal_arns" {
  description = "Principals allowed to assume the analyst role."
  type        = list(string)
  default     = []
}

variable "erasure_principal_arns" {
  description = "Principals allowed to assume the erasure role (with MFA)."
  type        = list(string)
  default     = []
}
