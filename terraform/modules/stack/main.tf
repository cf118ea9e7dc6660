# One tracelake deployment: storage, network, roles, Spark, Airflow and training, wired
# together. environments/dev and environments/prod call it with their own values, so the two
# cannot drift apart in structure.

module "storage" {
  source                     = "../storage"
  bucket_prefix              = var.bucket_prefix
  vacuum_retention_days      = var.vacuum_retention_days
  object_lock_retention_days = var.object_lock_retention_days
  force_destroy              = var.force_destroy
  tags                       = var.tags
}

module "network" {
  source              = "../network"
  name                = var.name
  region              = var.region
  cidr_block          = var.vpc_cidr_block
  flow_log_bucket_arn = module.storage.logs_bucket_arn
  tags                = var.tags
}

module "iam" {
  source                 = "../iam"
  name                   = var.name
  bucket_arns            = module.storage.bucket_arns
  kms_key_arn            = module.storage.kms_key_arn
  prefixes               = module.storage.prefixes
  analyst_principal_arns = var.analyst_principal_arns
  analysts_read_bronze   = var.analysts_read_bronze
  erasure_principal_arns = var.erasure_principal_arns
  tags                   = var.tags
}

module "spark" {
  source              = "../spark"
  name                = var.name
  release_label       = var.spark_release_label
  spark_minor_version = var.spark_minor_version
  delta_version       = var.delta_version
  max_vcpu            = var.spark_max_vcpu
  max_memory_gb       = var.spark_max_memory_gb
  subnet_ids          = module.network.private_subnet_ids
  security_group_id   = module.network.batch_security_group_id
  artifacts_bucket    = module.storage.bucket_names["artifacts"]
  job_role_arn        = module.iam.role_arns["spark"]
  logs_uri            = module.storage.spark_logs_uri
  kms_key_arn         = module.storage.kms_key_arn
  tags                = var.tags
}

module "training" {
  source            = "../training"
  name              = var.name
  region            = var.region
  instance_type     = var.training_instance_type
  instance_count    = var.training_instance_count
  trainer_role_arn  = module.iam.role_arns["trainer"]
  trainer_role_name = module.iam.role_names["trainer"]
  subnet_ids        = module.network.private_subnet_ids
  security_group_id = module.network.batch_security_group_id
  datasets_uri      = module.storage.export_root
  checkpoints_uri   = module.storage.checkpoints_uri
  kms_key_arn       = module.storage.kms_key_arn
  tags              = var.tags
}

locals {
  # The tracelake settings of this deployment (keys of jobs/settings.py Settings). Secrets never
  # appear: every component gets credentials from its role.
  tracelake_settings = {
    lake_root   = module.storage.lake_root
    export_root = module.storage.export_root
    landing     = module.storage.landing_uri
    s3          = { region = var.region }
    spark       = { conf = { "spark.hadoop.fs.s3a.endpoint.region" = var.region } }
  }

  # The same settings as TRACELAKE_* variables for the Airflow workers, plus cluster mode.
  airflow_environment = {
    TRACELAKE_LAKE_ROOT                            = module.storage.lake_root
    TRACELAKE_EXPORT_ROOT                          = module.storage.export_root
    TRACELAKE_LANDING                              = module.storage.landing_uri
    TRACELAKE_S3__REGION                           = var.region
    TRACELAKE_AIRFLOW__SPARK_MODE                  = "cluster"
    TRACELAKE_AIRFLOW__CLUSTER__APPLICATION        = module.spark.entry_point
    TRACELAKE_AIRFLOW__CLUSTER__PY_FILES           = jsonencode(module.spark.py_files)
    TRACELAKE_AIRFLOW__CLUSTER__PYTHON_ENV_ARCHIVE = coalesce(module.spark.python_env_archive, "")
    TRACELAKE_AIRFLOW__CLUSTER__DELTA_VERSION      = var.delta_version
    TRACELAKE_AIRFLOW__CLUSTER__HADOOP_AWS_VERSION = "" # EMR brings its own S3 support
    TRACELAKE_AIRFLOW__CLUSTER__CONF               = jsonencode(module.spark.spark_conf)
    TRACELAKE_AIRFLOW__CLUSTER__RESULT_ROOT        = "${module.storage.lake_root}/_tracelake/job_results"
  }
}

module "airflow" {
  source                    = "../airflow"
  name                      = var.name
  region                    = var.region
  airflow_version           = var.airflow_version
  environment_class         = var.airflow_environment_class
  max_workers               = var.airflow_max_workers
  vpc_id                    = module.network.vpc_id
  vpc_cidr_block            = module.network.vpc_cidr_block
  subnet_ids                = module.network.private_subnet_ids
  s3_prefix_list_id         = module.network.s3_prefix_list_id
  execution_role_arn        = module.iam.role_arns["airflow"]
  execution_role_name       = module.iam.role_names["airflow"]
  artifacts_bucket_arn      = module.storage.bucket_arns["artifacts"]
  plugins_s3_object_version = var.airflow_plugins_version
  tracelake_environment     = local.airflow_environment
  spark_application_arn     = module.spark.application_arn
  spark_job_role_arn        = module.iam.role_arns["spark"]
  trainer_role_arn          = module.iam.role_arns["trainer"]
  training_job_prefix       = module.training.job_config.job_name_prefix
  landing_queue_arn         = module.storage.landing_queue_arn
  tags                      = var.tags
}
