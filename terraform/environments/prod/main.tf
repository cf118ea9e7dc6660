# Production: buckets are never destroyed with data in them; the lake's Object Lock retention
# equals the VACUUM retention.
module "tracelake" {
  source = "../../modules/stack"

  name                       = "tracelake-prod"
  region                     = var.region
  bucket_prefix              = var.bucket_prefix
  vpc_cidr_block             = "10.41.0.0/16"
  vacuum_retention_days      = 7
  object_lock_retention_days = 7
  force_destroy              = false

  spark_max_vcpu      = 256
  spark_max_memory_gb = 1024

  airflow_version           = var.airflow_version
  airflow_environment_class = "mw1.medium"
  airflow_max_workers       = 10
  airflow_plugins_version   = var.airflow_plugins_version

  training_instance_type  = "ml.p4d.24xlarge"
  training_instance_count = 2

  analyst_principal_arns = var.analyst_principal_arns
  erasure_principal_arns = var.erasure_principal_arns
}
