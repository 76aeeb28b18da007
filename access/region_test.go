package access

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/sandbox"
	"github.com/rolecall/rolecall/internal/testkit/awsfake"
)

// partitionWorld is a RoleCall deployment in partition: a workload, the
// access role and one customer role, all of that partition, behind a
// sandbox STS that takes only credentials scoped to one of its Regions,
// as STS does.
type partitionWorld struct {
	sts                            *awsfake.ChainSTS
	api                            *fakeAPI
	stsURL                         string
	apiClient                      *API
	workload, accessRole, customer string
}

func newPartitionWorld(t *testing.T, partition string) *partitionWorld {
	t.Helper()
	w := &partitionWorld{sts: awsfake.NewChainSTSIn(partition),
		api:        &fakeAPI{token: "ops-token", conns: map[Ref]Connection{}, reasons: map[Ref]Reason{}},
		workload:   "arn:" + partition + ":iam::" + partnerAccount + ":role/billing-backend",
		accessRole: "arn:" + partition + ":iam::" + partnerAccount + ":role/rolecall-prod-access",
		customer:   "arn:" + partition + ":iam::444455556666:role/RoleCall-3f2a9c1d",
	}
	w.sts.AddPrincipal(workloadKey, w.workload)
	w.sts.AddRole(w.accessRole, w.workload, "")
	w.sts.AddRole(w.customer, w.accessRole, "rc-ext-444455556666")
	w.api.conns[Ref{TenantID: "acme", AccountID: "444455556666"}] = Connection{TenantID: "acme", AccountID: "444455556666",
		RoleARN: w.customer, ExternalID: "rc-ext-444455556666", AccessRoleARN: w.accessRole, Partition: partition, Status: "VERIFIED"}
	stsSrv := httptest.NewServer(w.sts)
	apiSrv := httptest.NewServer(w.api)
	t.Cleanup(stsSrv.Close)
	t.Cleanup(apiSrv.Close)
	w.stsURL = stsSrv.URL
	w.apiClient = &API{BaseURL: apiSrv.URL, Auth: BearerToken("ops-token")}
	return w
}

// cfg is the workload's configuration in region ("": none configured).
func (w *partitionWorld) cfg(region string) aws.Config {
	return aws.Config{Region: region, BaseEndpoint: aws.String(w.stsURL),
		Credentials: credentials.NewStaticCredentialsProvider(workloadKey, sandbox.DefaultCallerSecret(workloadKey), "")}
}

// Without a configured Region, both calls of the chain go to STS in the
// default Region of the access role's partition, the one STS there takes
// credentials scoped to; a configured Region of that partition is used as
// it is.
func TestCredentialsInTheAccessRolesPartition(t *testing.T) {
	tests := []struct{ partition, region, want string }{
		{partition: "aws-cn", want: "cn-north-1"},
		{partition: "aws-us-gov", want: "us-gov-west-1"},
		{partition: "aws", want: "us-east-1"},
		{partition: "aws-cn", region: "cn-northwest-1", want: "cn-northwest-1"},
	}
	for _, tt := range tests {
		t.Run(tt.partition+" "+tt.region, func(t *testing.T) {
			w := newPartitionWorld(t, tt.partition)
			c := New(w.cfg(tt.region), w.apiClient, Options{Workload: "billing"})
			creds, err := c.Credentials("acme", "444455556666").Retrieve(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			// The session is the customer role's, in its partition.
			client := sts.New(sts.Options{Region: tt.want, BaseEndpoint: aws.String(w.stsURL), Credentials: credentials.StaticCredentialsProvider{Value: creds}})
			out, err := client.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := aws.ToString(out.Arn), "arn:"+tt.partition+":sts::444455556666:assumed-role/RoleCall-3f2a9c1d/billing-acme"; got != want {
				t.Errorf("identity %s, want %s", got, want)
			}
			if w.sts.Assumed(w.accessRole) != 1 || w.sts.Assumed(w.customer) != 1 {
				t.Errorf("access role assumed %d times, customer role %d", w.sts.Assumed(w.accessRole), w.sts.Assumed(w.customer))
			}
		})
	}
}

// AccessRole on its own, as RoleCall's verifier uses it: with no Region
// configured, the access role's partition's default Region.
func TestAccessRoleInItsPartitionWithoutARegion(t *testing.T) {
	w := newPartitionWorld(t, "aws-us-gov")
	if _, err := AccessRole(w.cfg(""), w.accessRole, "rolecall-verifier").Retrieve(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := w.sts.Callers(w.accessRole); len(got) != 1 || got[0] != w.workload {
		t.Errorf("access role assumed by %v", got)
	}
}

// A configured Region of another partition than the access role's is
// refused with a *RegionError (an ErrAccessRole) naming both, before any
// call: STS there would refuse every one. Nothing is blamed on the
// customer's role, so RoleCall is asked for no re-check.
func TestRegionOfAnotherPartitionIsRefused(t *testing.T) {
	tests := []struct{ partition, region string }{
		{"aws-cn", "eu-west-1"},
		{"aws-cn", "us-east-1"},
		{"aws-us-gov", "cn-north-1"},
		{"aws", "us-gov-west-1"},
	}
	for _, tt := range tests {
		t.Run(tt.partition+" "+tt.region, func(t *testing.T) {
			w := newPartitionWorld(t, tt.partition)
			c := New(w.cfg(tt.region), w.apiClient, Options{Workload: "billing"})
			_, err := c.Credentials("acme", "444455556666").Retrieve(context.Background())
			var re *RegionError
			if !errors.As(err, &re) || !errors.Is(err, ErrAccessRole) {
				t.Fatalf("err %v (%T), want a *RegionError matching ErrAccessRole", err, err)
			}
			if re.Region != tt.region || re.Partition != tt.partition || re.RoleARN != w.accessRole {
				t.Errorf("RegionError %+v", re)
			}
			for _, s := range []string{`Region "` + tt.region + `"`, "partition " + tt.partition, rolearn.DefaultRegion(tt.partition)} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%q lacks %q", err, s)
				}
			}
			if n := len(w.sts.Requests()); n != 0 {
				t.Errorf("%d STS calls, want none", n)
			}
			if got := w.api.checked(); len(got) != 0 {
				t.Errorf("re-checks requested: %v", got)
			}
			if _, err := AccessRole(w.cfg(tt.region), w.accessRole, "rolecall-verifier").Retrieve(context.Background()); !errors.As(err, &re) {
				t.Errorf("AccessRole: %v, want a *RegionError", err)
			}
		})
	}
}
