variable "external_id" {
  description = "The external ID the partner issued to your organisation. The role can only be assumed with it."
  type        = string

  validation {
    condition     = length(var.external_id) >= 2 && length(var.external_id) <= 1224 && can(regex("^[\\w+=,.@:/-]+$", var.external_id))
    error_message = "The external ID is 2-1224 characters of letters, digits and + = , . @ : / - _ (copy it from the partner's onboarding page)."
  }
}

variable "trusted_principal_arn" {
  description = "The partner's access role (arn:aws:iam::<partner account>:role/rolecall-<stage>-access), the only principal allowed to assume the role."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\\w+=,.@/-]+$", var.trusted_principal_arn))
    error_message = "The trusted principal must be the partner's access role: arn:<partition>:iam::<12-digit account>:role/<name>."
  }
}

variable "role_name" {
  description = "Name of the role to create (the partner's onboarding page gives you one). Null: role_name_prefix and a unique suffix."
  type        = string
  default     = null

  validation {
    condition     = var.role_name == null || can(regex("^[\\w+=,.@-]{1,64}$", var.role_name))
    error_message = "A role name is 1-64 characters of letters, digits and + = , . @ _ -."
  }
}

variable "role_name_prefix" {
  description = "Start of the role's name when role_name is null."
  type        = string
  default     = "RoleCall"

  validation {
    condition     = length(var.role_name_prefix) >= 1 && length(var.role_name_prefix) <= 37 && can(regex("^[\\w+=,.@-]+$", var.role_name_prefix))
    error_message = "The prefix is 1-37 characters of letters, digits and + = , . @ _ - (IAM's name_prefix limit, with the hyphen)."
  }
}

variable "managed_policy_arns" {
  description = "Managed policies to attach. The default (null) is AWS's read-only ViewOnlyAccess job-function policy (lists and describes resources, reads no data) in the partition of the provider's account. Empty for none."
  type        = list(string)
  default     = null
}

variable "inline_policy" {
  description = "Optional inline permissions policy (a JSON document), for permissions the managed policies do not cover."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for the role."
  type        = map(string)
  default     = {}
}
