output "environment_name" {
  description = "Name of the MWAA environment."
  value       = aws_mwaa_environment.this.name
}

output "environment_arn" {
  description = "ARN of the MWAA environment."
  value       = aws_mwaa_environment.this.arn
}

output "airflow_version" {
  description = "Airflow version of the environment (picks the constraints file shipped in plugins.zip)."
  value       = aws_mwaa_environment.this.airflow_version
}

output "webserver_url" {
  description = "URL of the Airflow UI."
  value       = aws_mwaa_environment.this.webserver_url
}

output "dags_uri" {
  description = "Where to sync dags/ (aws s3 sync dags/ <dags_uri>)."
  value       = "s3://${local.bucket_name}/airflow/dags/"
}

output "plugins_uri" {
  description = "Where scripts/stage_artifacts.sh uploads plugins.zip (the wheels requirements.txt installs from)."
  value       = "s3://${local.bucket_name}/airflow/plugins.zip"
}

output "security_group_id" {
  description = "Security group of the environment."
  value       = aws_security_group.airflow.id
}
