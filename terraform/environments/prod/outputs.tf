output "tracelake_settings" {
  description = "tracelake.toml of this deployment (tracelake cloud-config --from-terraform)."
  value       = module.tracelake.tracelake_settings
}

output "airflow_environment" {
  description = "TRACELAKE_* variables of the Airflow workers."
  value       = module.tracelake.airflow_environment
}

output "buckets" {
  description = "Bucket name per role."
  value       = module.tracelake.buckets
}

output "role_arns" {
  description = "Role ARN per component."
  value       = module.tracelake.role_arns
}

output "spark" {
  description = "EMR Serverless job-run parameters."
  value       = module.tracelake.spark
}

output "airflow" {
  description = "MWAA environment, DAG and plugin locations."
  value       = module.tracelake.airflow
}

output "training" {
  description = "SageMaker training-job settings."
  value       = module.tracelake.training
}

output "landing_queue_url" {
  description = "SQS queue of landing events."
  value       = module.tracelake.landing_queue_url
}
