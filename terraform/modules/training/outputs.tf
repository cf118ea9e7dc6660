output "image_repository_url" {
  description = "ECR repository of the trainer image (push <url>:<tag> before training)."
  value       = aws_ecr_repository.trainer.repository_url
}

output "security_group_id" {
  description = "Security group of the training instances."
  value       = var.security_group_id
}

output "job_config" {
  description = "Everything a SageMaker CreateTrainingJob call of the tracelake_train DAG needs besides the image tag and the manifest."
  value = {
    job_name_prefix     = "${var.name}-train-"
    role_arn            = var.trainer_role_arn
    image_repository    = aws_ecr_repository.trainer.repository_url
    instance_type       = var.instance_type
    instance_count      = var.instance_count
    volume_size_gb      = var.volume_size_gb
    volume_kms_key_arn  = var.kms_key_arn
    max_runtime_seconds = var.max_runtime_hours * 3600
    subnet_ids          = var.subnet_ids
    security_group_ids  = [var.security_group_id]
    datasets_uri        = var.datasets_uri
    checkpoints_uri     = var.checkpoints_uri
  }
}
