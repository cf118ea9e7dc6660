output "application_id" {
  description = "EMR Serverless application ID (StartJobRun applicationId)."
  value       = aws_emrserverless_application.this.id
}

output "application_arn" {
  description = "EMR Serverless application ARN."
  value       = aws_emrserverless_application.this.arn
}

output "release_label" {
  description = "EMR Serverless release of the application."
  value       = aws_emrserverless_application.this.release_label
}

output "job_role_arn" {
  description = "Execution role of the job runs (StartJobRun executionRoleArn)."
  value       = var.job_role_arn
}

output "entry_point" {
  description = "The job entry file (tracelake/jobs/submit.py) as the workers see it."
  value       = local.entry_point
}

output "py_files" {
  description = "The project wheel, added to the Python path of driver and executors."
  value       = local.py_files
}

output "python_env_archive" {
  description = "Packed Python environment (venv-pack) with the project's dependencies; null with a custom image."
  value       = var.image_uri == null ? local.python_env_archive : null
}

output "spark_conf" {
  description = "Spark properties every tracelake job run needs (Delta jars and confs, Python environment)."
  value       = local.spark_conf
}

output "spark_submit_parameters" {
  description = "The same properties as StartJobRun sparkSubmitParameters."
  value       = join(" ", [for key in sort(keys(local.spark_conf)) : "--conf ${key}=${local.spark_conf[key]}"])
}

output "logs_uri" {
  description = "Where job runs write logs (configurationOverrides.monitoringConfiguration.s3MonitoringConfiguration)."
  value       = var.logs_uri
}

output "logs_kms_key_arn" {
  description = "Key encrypting the job logs (s3MonitoringConfiguration.encryptionKeyArn)."
  value       = var.kms_key_arn
}

output "security_group_id" {
  description = "Security group of the workers."
  value       = var.security_group_id
}
