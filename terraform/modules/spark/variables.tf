variable "name" {
  description = "Name of the EMR Serverless application (e.g. tracelake-dev)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "release_label" {
  description = "EMR Serverless release. emr-spark-8.2.0 carries Spark 4.1.3, the newest Spark 4.x line EMR offers (no release carries Spark 4.2 yet; see the module README)."
  type        = string
  default     = "emr-spark-8.2.0"

  validation {
    condition     = can(regex("^emr-spark-[0-9]+\\.[0-9]+\\.[0-9]+$", var.release_label))
    error_message = "release_label must be an \"AWS runtime for Apache Spark\" release (emr-spark-X.Y.Z, Spark 4.x), e.g. \"emr-spark-8.2.0\"; emr-7.x releases carry Spark 3.5, which the jobs do not support."
  }
}

variable "spark_minor_version" {
  description = "The Spark line of release_label (major.minor); picks the delta-spark artifact built for it (delta-spark_<line>_<scala>)."
  type        = string
  default     = "4.1"

  validation {
    condition     = can(regex("^4\\.[0-9]+$", var.spark_minor_version))
    error_message = "spark_minor_version must be a Spark 4 line such as \"4.1\"."
  }
}

variable "delta_version" {
  description = "delta-spark release the jobs use (the same as the project's native Delta engine)."
  type        = string
  default     = "4.4.1"
}

variable "scala_binary_version" {
  description = "Scala binary version of the Spark build."
  type        = string
  default     = "2.13"
}

variable "wheel_name" {
  description = "File name of the project wheel under s3://<artifacts>/spark/ (pip wheel --no-deps . -w dist)."
  type        = string
  default     = "tracelake-0.1.0-py3-none-any.whl"
}

variable "image_uri" {
  description = "Optional custom EMR Serverless image (built FROM the release's base image) holding the Python environment and jars; null uses the stock image with the archive and jars from S3."
  type        = string
  default     = null
}

variable "architecture" {
  description = "CPU architecture of the workers."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.architecture)
    error_message = "architecture must be X86_64 or ARM64 (build the Python environment archive for the same one)."
  }
}

variable "max_vcpu" {
  description = "Upper bound of the application's total vCPUs."
  type        = number
  default     = 64
}

variable "max_memory_gb" {
  description = "Upper bound of the application's total memory in GB."
  type        = number
  default     = 256
}

variable "idle_timeout_minutes" {
  description = "Stop the application after this many idle minutes."
  type        = number
  default     = 15
}

variable "security_group_id" {
  description = "Security group of the instances (network module batch_security_group_id)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the workers."
  type        = list(string)
}

variable "artifacts_bucket" {
  description = "Name of the artifacts bucket (storage module) holding spark/: wheel, environment archive, submit.py, jars."
  type        = string
}

variable "job_role_arn" {
  description = "Execution role of the job runs (iam module, role spark)."
  type        = string
}

variable "logs_uri" {
  description = "S3 URI where job runs write driver and executor logs (storage module spark_logs_uri)."
  type        = string
}

variable "kms_key_arn" {
  description = "Key encrypting the logs written to logs_uri."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
}
