# Example: create the RoleCall customer role in the account your AWS provider
# points at. Replace the two values with the ones the partner's onboarding page
# shows you, then `terraform init && terraform apply` and paste the role_arn
# output into the page.

provider "aws" {
  region = "us-east-1"
}

module "rolecall_customer_role" {
  source = "../"

  external_id           = "rc-EXAMPLEEXAMPLEEXAMPLEEXAMPLE234"
  trusted_principal_arn = "arn:aws:iam::111122223333:role/rolecall-prod-access"

  # Optional:
  # role_name           = "RoleCallAccess"
  # managed_policy_arns = ["arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"]
  # inline_policy       = jsonencode({ Version = "2012-10-17", Statement = [] })
}

output "role_arn" {
  value = module.rolecall_customer_role.role_arn
}
