# Development: small and disposable (buckets may be destroyed with their contents).
module "tracelake" {
  source = "../../modules/stack"

  name                       = "tracelake-dev"
  region                     = var.region
  bucket_prefix              = var.bucket_prefix
  vpc_cidr_block             = "10.40.0.0/16"
  vacuum_retention_days      = 7
  object_lock_retention_days = 1
  force_destroy              = true

  spark_max_vcpu      = 16
  spark_max_memory_gb = 64

  airflow_version           = var.airflow_version
  airflow_environment_class = "mw1.small"
  airflow_max_workers       = 2
  airflow_plugins_version   = var.airflow_plugins_version

  training_instance_type  = "ml.g5.2xlarge"
  training_instance_count = 1

  analyst_principal_arns = var.analyst_principal_arns
  erasure_principal_arns = var.erasure_principal_arns
}
