package sandbox_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/sandbox"
)

// TestPartitions: AssumeRole never crosses a partition. A caller of
// another partition than the sandbox's is unknown (its credentials were
// issued by another IAM instance), whatever the trust policy says; a bare
// account ID in a trust policy names the account in the role's own
// partition; a root or role ARN of another partition matches no caller.
// Both adapters answer alike, and over HTTP GetCallerIdentity refuses the
// foreign caller too.
func TestPartitions(t *testing.T) {
	const callerKey = "AKIASANDBOXPARTITION"
	tests := []struct {
		name      string
		partition string // the sandbox's
		caller    string
		principal string // in the role's trust policy
		want      string // STS error code; "" for success
	}{
		{"bare account ID, caller of the partition", "aws", "arn:aws:iam::111122223333:role/verifier", "111122223333", ""},
		{"bare account ID, caller of aws-cn", "aws", "arn:aws-cn:iam::111122223333:role/verifier", "111122223333", "InvalidClientTokenId"},
		{"bare account ID, caller of aws-us-gov", "aws", "arn:aws-us-gov:iam::111122223333:role/verifier", "111122223333", "InvalidClientTokenId"},
		{"root ARN of the partition, caller of aws-cn", "aws", "arn:aws-cn:iam::111122223333:role/verifier", "arn:aws:iam::111122223333:root", "InvalidClientTokenId"},
		{"role ARN of the partition, its twin in aws-cn calls", "aws", "arn:aws-cn:iam::111122223333:role/verifier", "arn:aws:iam::111122223333:role/verifier", "InvalidClientTokenId"},
		{"role ARN of aws-cn, its twin in aws calls", "aws", "arn:aws:iam::111122223333:role/verifier", "arn:aws-cn:iam::111122223333:role/verifier", "AccessDenied"},
		{"user of aws-cn", "aws", "arn:aws-cn:iam::111122223333:user/alice", "111122223333", "InvalidClientTokenId"},
		{"session of aws-cn", "aws", "arn:aws-cn:sts::111122223333:assumed-role/verifier/s1", "111122223333", "InvalidClientTokenId"},
		{"bare account ID in aws-cn, caller of aws-cn", "aws-cn", "arn:aws-cn:iam::111122223333:role/verifier", "111122223333", ""},
		{"bare account ID in aws-cn, caller of aws", "aws-cn", "arn:aws:iam::111122223333:role/verifier", "111122223333", "InvalidClientTokenId"},
		{"root ARN of aws in an aws-cn role", "aws-cn", "arn:aws-cn:iam::111122223333:role/verifier", "arn:aws:iam::111122223333:root", "AccessDenied"},
		{"root ARN of aws-cn in an aws-cn role", "aws-cn", "arn:aws-cn:iam::111122223333:role/verifier", "arn:aws-cn:iam::111122223333:root", ""},
		{"bare account ID in aws-us-gov, caller of aws-us-gov", "aws-us-gov", "arn:aws-us-gov:iam::111122223333:role/verifier", "111122223333", ""},
	}
	for _, tt := range tests {
		role := "arn:" + tt.partition + ":iam::210987654321:role/Customer"
		newSTS := func(t *testing.T) *sandbox.STS {
			s := sandbox.New(sandbox.Config{Partition: tt.partition, Callers: map[string]string{callerKey: tt.caller}})
			must(t, s.PutRole(role, enforcedPolicy(tt.principal, externalID)))
			return s
		}
		t.Run(tt.name+"/embedded", func(t *testing.T) {
			_, err := newSTS(t).Assumer(tt.caller).AssumeRole(context.Background(), req(role, externalID))
			if got := stsCode(err); got != tt.want {
				t.Errorf("AssumeRole: %v, want %q", err, tt.want)
			}
		})
		t.Run(tt.name+"/http+sdk", func(t *testing.T) {
			srv := httptest.NewServer(newSTS(t))
			defer srv.Close()
			// A client signs for a Region of the sandbox's partition, as
			// for STS there: a credential is scoped to its partition.
			region := map[string]string{"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}[tt.partition]
			_, err := (&probe.STS{Client: stsClient(srv.URL, callerKey, region)}).AssumeRole(context.Background(), req(role, externalID))
			if got := stsCode(err); got != tt.want {
				t.Errorf("AssumeRole: %v, want %q", err, tt.want)
			}
			_, err = stsClient(srv.URL, callerKey, region).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
			if want := map[bool]string{true: "InvalidClientTokenId"}[tt.want == "InvalidClientTokenId"]; apiCode(err) != want {
				t.Errorf("GetCallerIdentity: %v, want %q", err, want)
			}
		})
	}
}

// stsCode is the STS error code a probe.Assumer's error carries, "" for
// none.
func stsCode(err error) string {
	if err == nil {
		return ""
	}
	return codeOf(err)
}
