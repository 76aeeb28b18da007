package stsclient

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/stsbudget"
)

// regionFake answers for one Region, or says the Region is disabled.
type regionFake struct {
	name     string
	disabled bool
	calls    *[]string
}

func (f regionFake) AssumeRole(ctx context.Context, in probe.AssumeRequest) (probe.Session, error) {
	*f.calls = append(*f.calls, f.name)
	if f.disabled {
		return probe.Session{}, &probe.STSError{Kind: probe.ErrRegionDisabled, Code: "RegionDisabledException", Err: errors.New("STS is not activated in this region")}
	}
	return probe.Session{AssumedRoleARN: "arn:aws:sts::111122223333:assumed-role/R/s", AccountID: "111122223333"}, nil
}

func TestRegionalRoutesAndFallsBack(t *testing.T) {
	for _, tc := range []struct {
		name     string
		region   string // of the check's tokens
		disabled []string
		want     []string // Regions called, in order
		err      error
	}{
		{"no Region named: the deployment's", "", nil, []string{"us-east-1"}, nil},
		{"the Region the tokens came from", "eu-west-1", nil, []string{"eu-west-1"}, nil},
		{"disabled in the customer's account: the next", "eu-south-1", []string{"eu-south-1"}, []string{"eu-south-1", "us-east-1"}, nil},
		{"disabled twice: the one after", "eu-west-1", []string{"eu-west-1", "eu-south-1"}, []string{"eu-west-1", "eu-south-1", "us-east-1"}, nil},
		{"disabled everywhere: the error stands", "us-east-1", []string{"us-east-1", "eu-west-1", "eu-south-1"}, []string{"us-east-1", "eu-west-1", "eu-south-1"}, probe.ErrRegionDisabled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls []string
			r := &Regional{names: []string{"us-east-1", "eu-west-1", "eu-south-1"}, clients: map[string]probe.Assumer{}}
			for _, n := range r.names {
				r.clients[n] = regionFake{name: n, disabled: slices.Contains(tc.disabled, n), calls: &calls}
			}
			ctx := context.Background()
			if tc.region != "" {
				ctx = stsbudget.WithRegion(ctx, tc.region)
			}
			_, err := r.AssumeRole(ctx, probe.AssumeRequest{RoleARN: "arn:aws:iam::111122223333:role/R"})
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if !slices.Equal(calls, tc.want) {
				t.Fatalf("called %v, want %v", calls, tc.want)
			}
		})
	}
}

func TestNewRegionalBuildsOneClientPerRegion(t *testing.T) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", "")}
	r, err := NewRegional(cfg, []string{"eu-west-1", "us-east-1", "ap-southeast-2"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"us-east-1", "eu-west-1", "ap-southeast-2"}; !slices.Equal(r.Regions(), want) {
		t.Fatalf("regions %v, want %v (the deployment's first, no repeat)", r.Regions(), want)
	}
	for _, n := range r.Regions() {
		c, ok := r.clients[n].(*probe.STS).Client.(*sts.Client)
		if !ok || c.Options().Region != n {
			t.Errorf("the client for %s is not an STS client of that Region", n)
		}
	}
	if _, err := NewRegional(aws.Config{}, []string{"eu-west-1"}, Options{}); !errors.Is(err, ErrNoRegion) {
		t.Errorf("no deployment Region: %v, want ErrNoRegion", err)
	}
}
