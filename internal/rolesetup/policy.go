package rolesetup

import (
	"encoding/json"
)

// Policy is an IAM policy document as the customer role's trust policy
// uses it. Its fields are in the order infra/customer-role.yaml writes
// them, so the JSON reads like the template.
type Policy struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of a trust policy.
type Statement struct {
	Sid       string    `json:"Sid"`
	Effect    string    `json:"Effect"`
	Principal Principal `json:"Principal"`
	Action    string    `json:"Action"`
	// Condition maps an operator to its keys and values; encoding/json
	// writes map keys sorted, which is stable. A statement without one
	// has no Condition key, as IAM's grammar wants, rather than a null
	// (the trust policies RoleCall renders always have one).
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

// Principal names who a statement trusts.
type Principal struct {
	AWS string `json:"AWS"`
}

// TrustPolicyDocument is the customer role's trust policy, defined once:
// the partner access role may call sts:AssumeRole only with the tenant's
// external ID. infra/customer-role.yaml, the Terraform module and the CDK
// construct are tested to create exactly this document; the API renders it
// from here, without reading the template. Its arguments are in the order
// of TrustPolicy (and the tests' template evaluation): the external ID, then the
// trusted principal.
func TrustPolicyDocument(externalID, principal string) Policy {
	return Policy{
		Version: "2012-10-17",
		Statement: []Statement{{
			Sid:       "TrustPartnerWithExternalId",
			Effect:    "Allow",
			Principal: Principal{AWS: principal},
			Action:    "sts:AssumeRole",
			Condition: map[string]map[string]string{
				"StringEquals": {"sts:ExternalId": externalID},
			},
		}},
	}
}

// JSON renders the policy as indented JSON ending in a newline, the form
// the API returns and the tests compare.
func (p Policy) JSON() []byte {
	b, _ := json.MarshalIndent(p, "", "  ") // strings and maps of strings always marshal
	return append(b, '\n')
}

// TrustPolicy renders the customer role's trust policy for a tenant's
// external ID and the partner access role, after validating both.
func TrustPolicy(externalID, trustedPrincipalARN string) ([]byte, error) {
	if err := ValidateExternalID(externalID); err != nil {
		return nil, err
	}
	if _, err := partitionOf(trustedPrincipalARN); err != nil {
		return nil, err
	}
	return TrustPolicyDocument(externalID, trustedPrincipalARN).JSON(), nil
}
