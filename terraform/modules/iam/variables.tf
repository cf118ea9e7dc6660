variable "name" {
  description = "Name prefix of the roles (e.g. tracelake-dev): <name>-spark, <name>-airflow, ..."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "bucket_arns" {
  description = "Bucket ARN per role, from the storage module: lake, exports, landing, artifacts."
  type        = map(string)

  validation {
    condition     = alltrue([for key in ["lake", "exports", "landing", "artifacts"] : contains(keys(var.bucket_arns), key)])
    error_message = "bucket_arns must have the keys lake, exports, landing and artifacts (the storage module's bucket_arns output)."
  }
}

variable "kms_key_arn" {
  description = "ARN of the key encrypting the data buckets."
  type        = string
}

variable "prefixes" {
  description = "Object prefixes from the storage module: landing, datasets, checkpoints."
  type        = map(string)
}

variable "analyst_principal_arns" {
  description = "IAM principals (users, roles, SSO permission-set roles) allowed to assume the analyst role. Empty: the account root, i.e. whoever the account's admins allow sts:AssumeRole on it."
  type        = list(string)
  default     = []
}

variable "analysts_read_bronze" {
  description = "Let analysts read raw bronze. Off by default: bronze keeps unscrubbed text (secrets, personal data) that silver.events replaces."
  type        = bool
  default     = false
}

variable "erasure_principal_arns" {
  description = "IAM principals allowed to assume the erasure role (tracelake erase), with MFA. Empty: the account root."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every role."
  type        = map(string)
  default     = {}
}
