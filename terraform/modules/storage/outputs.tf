output "bucket_names" {
  description = "Bucket name per role: lake, exports, landing, artifacts."
  value       = { for key, bucket in aws_s3_bucket.data : key => bucket.bucket }
}

output "bucket_arns" {
  description = "Bucket ARN per role: lake, exports, landing, artifacts."
  value       = { for key, bucket in aws_s3_bucket.data : key => bucket.arn }
}

output "logs_bucket_name" {
  description = "Bucket receiving S3 server access logs (s3/<bucket>/) and VPC flow logs (vpc/)."
  value       = aws_s3_bucket.logs.bucket
}

output "logs_bucket_arn" {
  description = "ARN of the logs bucket."
  value       = aws_s3_bucket.logs.arn
}

output "kms_key_arn" {
  description = "Customer-managed key encrypting the data buckets."
  value       = aws_kms_key.data.arn
}

output "lake_root" {
  description = "tracelake lake_root: tables live at <lake_root>/<tier>/<name>."
  value       = "s3://${aws_s3_bucket.data["lake"].bucket}"
}

output "export_root" {
  description = "tracelake export_root: datasets are exported under it."
  value       = "s3://${aws_s3_bucket.data["exports"].bucket}/${trimsuffix(local.datasets_prefix, "/")}"
}

output "landing_uri" {
  description = "tracelake landing: where producers drop new trace files."
  value       = "s3://${aws_s3_bucket.data["landing"].bucket}/${trimsuffix(local.landing_prefix, "/")}"
}

output "checkpoints_uri" {
  description = "Where training writes checkpoints and run records."
  value       = "s3://${aws_s3_bucket.data["exports"].bucket}/${trimsuffix(local.checkpoints_prefix, "/")}"
}

output "spark_logs_uri" {
  description = "Where Spark jobs write their logs (expired after ops_log_days)."
  value       = "s3://${aws_s3_bucket.data["lake"].bucket}/${local.ops_logs_prefix}spark/"
}

output "landing_queue_arn" {
  description = "SQS queue receiving the landing bucket's ObjectCreated events."
  value       = aws_sqs_queue.landing.arn
}

output "landing_queue_url" {
  description = "URL of the landing events queue (for an Airflow SQS trigger or sensor)."
  value       = aws_sqs_queue.landing.id
}

output "prefixes" {
  description = "Object prefixes inside the buckets that the iam module grants."
  value = {
    landing     = local.landing_prefix
    datasets    = local.datasets_prefix
    checkpoints = local.checkpoints_prefix
    ops_logs    = local.ops_logs_prefix
  }
}
