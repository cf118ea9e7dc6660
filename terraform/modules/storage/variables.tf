variable "bucket_prefix" {
  description = "Prefix of every bucket name (<prefix>-lake, <prefix>-exports, ...). Lowercase letters, digits and hyphens; no dots, so TLS virtual-host addressing keeps working."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$", var.bucket_prefix)) && !startswith(var.bucket_prefix, "xn--") && !strcontains(var.bucket_prefix, "--")
    error_message = "bucket_prefix must be 3-40 characters of lowercase letters, digits and single hyphens, start and end with a letter or digit, and not start with \"xn--\" (S3 bucket naming rules; dots are refused because they break TLS for virtual-hosted requests). Example: \"acme-tracelake-dev\"."
  }
}

variable "vacuum_retention_days" {
  description = "VACUUM retention of the lake's Delta tables (tracelake maintain). Files unreferenced for this long may be deleted."
  type        = number
  default     = 7

  validation {
    condition     = var.vacuum_retention_days >= 1 && floor(var.vacuum_retention_days) == var.vacuum_retention_days
    error_message = "vacuum_retention_days must be a whole number of days, at least 1 (Delta's default is 7)."
  }
}

variable "object_lock_retention_days" {
  description = "Default S3 Object Lock retention (GOVERNANCE mode) of every object version in the lake bucket. At most vacuum_retention_days, so VACUUM and compaction never meet a locked file."
  type        = number
  default     = 7

  validation {
    condition     = var.object_lock_retention_days >= 1 && floor(var.object_lock_retention_days) == var.object_lock_retention_days
    error_message = "object_lock_retention_days must be a whole number of days, at least 1 (the Object Lock minimum)."
  }

  validation {
    condition     = var.object_lock_retention_days <= var.vacuum_retention_days
    error_message = "object_lock_retention_days must not exceed vacuum_retention_days: a lock longer than the VACUUM retention would make VACUUM fail on files it is allowed to remove."
  }
}

variable "noncurrent_version_days" {
  description = "Days after which a noncurrent object version is deleted by lifecycle (never before its Object Lock retention ends)."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_days >= 1
    error_message = "noncurrent_version_days must be at least 1."
  }
}

variable "ops_log_days" {
  description = "Days to keep logs under the lake's ops/logs/ prefix (Spark driver and executor logs)."
  type        = number
  default     = 90

  validation {
    condition     = var.ops_log_days >= 1
    error_message = "ops_log_days must be at least 1."
  }
}

variable "access_log_days" {
  description = "Days to keep S3 server access logs and VPC flow logs in the logs bucket."
  type        = number
  default     = 365

  validation {
    condition     = var.access_log_days >= 90
    error_message = "access_log_days must be at least 90 (an audit trail shorter than a quarter is rarely useful)."
  }
}

variable "force_destroy" {
  description = "Allow terraform destroy to empty non-empty buckets. Keep false outside throwaway environments."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
}
