# The RoleCall customer role: the same role as infra/customer-role.yaml.
# The partner's access role may assume it only with the external ID.

resource "aws_iam_role" "this" {
  # Without a name: the prefix and a unique suffix Terraform generates, so
  # no two customers' roles share one guessable name.
  name                 = var.role_name
  name_prefix          = var.role_name == null ? "${var.role_name_prefix}-" : null
  description          = "Assumed by the partner through RoleCall, only with your external ID."
  max_session_duration = 3600

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "TrustPartnerWithExternalId"
        Effect    = "Allow"
        Principal = { AWS = var.trusted_principal_arn }
        Action    = "sts:AssumeRole"
        Condition = {
          StringEquals = { "sts:ExternalId" = var.external_id }
        }
      }
    ]
  })

  tags = merge({ "managed-by" = "rolecall-customer-role" }, var.tags)
}

# The partition of the provider's account: the default managed policy is
# that partition's (arn:aws-cn:, arn:aws-us-gov: outside the commercial one).
data "aws_partition" "current" {}

locals {
  managed_policy_arns = var.managed_policy_arns != null ? var.managed_policy_arns : [
    "arn:${data.aws_partition.current.partition}:iam::aws:policy/job-function/ViewOnlyAccess",
  ]
}

resource "aws_iam_role_policy_attachment" "managed" {
  for_each   = toset(local.managed_policy_arns)
  role       = aws_iam_role.this.name
  policy_arn = each.value
}

resource "aws_iam_role_policy" "inline" {
  count  = var.inline_policy == null ? 0 : 1
  name   = "RoleCallPartnerInline"
  role   = aws_iam_role.this.id
  policy = var.inline_policy
}
