output "role_arn" {
  description = "Paste this ARN into the partner's onboarding page."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "The name of the role."
  value       = aws_iam_role.this.name
}
