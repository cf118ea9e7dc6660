output "role_arns" {
  description = "Role ARN per component: ingest, spark, airflow, trainer, analyst, erasure."
  value = merge(
    { for key, role in aws_iam_role.service : key => role.arn },
    { analyst = aws_iam_role.analyst.arn, erasure = aws_iam_role.erasure.arn },
  )
}

output "role_names" {
  description = "Role name per component (component modules attach their service permissions by name)."
  value = merge(
    { for key, role in aws_iam_role.service : key => role.name },
    { analyst = aws_iam_role.analyst.name, erasure = aws_iam_role.erasure.name },
  )
}
