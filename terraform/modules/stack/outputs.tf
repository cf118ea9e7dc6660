output "tracelake_settings" {
  description = "tracelake.toml of this deployment: lake_root, export_root, landing, s3.region, spark.conf (tracelake cloud-config writes it)."
  value       = local.tracelake_settings
}

output "airflow_environment" {
  description = "TRACELAKE_* variables the MWAA startup script exports (settings and cluster mode)."
  value       = local.airflow_environment
}

output "buckets" {
  description = "Bucket name per role: lake, exports, landing, artifacts, logs."
  value       = merge(module.storage.bucket_names, { logs = module.storage.logs_bucket_name })
}

output "kms_key_arn" {
  description = "Key encrypting the data buckets."
  value       = module.storage.kms_key_arn
}

output "role_arns" {
  description = "Role ARN per component: ingest, spark, airflow, trainer, analyst, erasure."
  value       = module.iam.role_arns
}

output "spark" {
  description = "EMR Serverless job-run parameters: application, execution role, entry point, Spark properties, logs."
  value = {
    application_id          = module.spark.application_id
    application_arn         = module.spark.application_arn
    release_label           = module.spark.release_label
    job_role_arn            = module.spark.job_role_arn
    entry_point             = module.spark.entry_point
    spark_submit_parameters = module.spark.spark_submit_parameters
    logs_uri                = module.spark.logs_uri
    logs_kms_key_arn        = module.spark.logs_kms_key_arn
  }
}

output "airflow" {
  description = "MWAA environment: name, UI URL, where to sync the DAGs and upload plugins.zip."
  value = {
    environment_name = module.airflow.environment_name
    airflow_version  = module.airflow.airflow_version
    webserver_url    = module.airflow.webserver_url
    dags_uri         = module.airflow.dags_uri
    plugins_uri      = module.airflow.plugins_uri
  }
}

output "training" {
  description = "SageMaker training-job settings for the tracelake_train DAG."
  value       = module.training.job_config
}

output "landing_queue_url" {
  description = "SQS queue of landing ObjectCreated events."
  value       = module.storage.landing_queue_url
}

output "vpc_id" {
  description = "ID of the VPC."
  value       = module.network.vpc_id
}
