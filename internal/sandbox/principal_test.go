package sandbox

import "testing"

// TestPrincipalMatchPartition: an account principal matches callers of its
// account in one partition only. A bare account ID is the account's root in
// the policy's own partition; a root ARN names its partition itself.
func TestPrincipalMatchPartition(t *testing.T) {
	tests := []struct {
		principal string
		policyIn  string // the partition of the policy (its role's)
		caller    string
		want      principalMatch
	}{
		{"111122223333", "aws", "arn:aws:iam::111122223333:role/verifier", broadMatch},
		{"111122223333", "aws", "arn:aws-cn:iam::111122223333:role/verifier", noMatch},
		{"111122223333", "aws-cn", "arn:aws-cn:iam::111122223333:role/verifier", broadMatch},
		{"111122223333", "aws-cn", "arn:aws:iam::111122223333:user/alice", noMatch},
		{"111122223333", "aws-us-gov", "arn:aws-us-gov:sts::111122223333:assumed-role/verifier/s1", broadMatch},
		{"111122223333", "aws", "arn:aws:iam::444455556666:role/verifier", noMatch},
		{"arn:aws:iam::111122223333:root", "aws", "arn:aws:iam::111122223333:role/verifier", broadMatch},
		{"arn:aws:iam::111122223333:root", "aws", "arn:aws-cn:iam::111122223333:role/verifier", noMatch},
		{"arn:aws-cn:iam::111122223333:root", "aws", "arn:aws-cn:iam::111122223333:role/verifier", broadMatch},
		{"arn:aws:iam::111122223333:role/verifier", "aws", "arn:aws-cn:iam::111122223333:role/verifier", noMatch},
		{"arn:aws:iam::111122223333:role/verifier", "aws", "arn:aws:iam::111122223333:role/verifier", specificMatch},
	}
	for _, tt := range tests {
		t.Run(tt.principal+" in "+tt.policyIn+" by "+tt.caller, func(t *testing.T) {
			var ps principalSet
			if err := ps.add("Principal.AWS", tt.principal); err != nil {
				t.Fatal(err)
			}
			id, err := parseIdentity(tt.caller)
			if err != nil {
				t.Fatal(err)
			}
			if got := ps.match(id, tt.policyIn); got != tt.want {
				t.Errorf("match = %d, want %d", got, tt.want)
			}
		})
	}
}
