package stsclient

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// TestRegionalRefusesRegionsOfAnotherPartition: a Region of StsRegions in
// another partition than the deployment's (aws-cn, aws-us-gov) cannot
// assume the deployment partition's roles with its credentials, so every
// check sent there would be lost: NewRegional refuses it. Regions of the
// same partition are taken.
func TestRegionalRefusesRegionsOfAnotherPartition(t *testing.T) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", "")}
	for _, extra := range []string{"cn-north-1", "us-gov-west-1"} {
		if r, err := NewRegional(cfg, []string{extra}, Options{}); !errors.Is(err, ErrOtherPartition) {
			t.Errorf("NewRegional(us-east-1 + %s) = %v, %v; want %v", extra, r, err, ErrOtherPartition)
		}
	}
	r, err := NewRegional(cfg, []string{"eu-west-1"}, Options{})
	if err != nil || len(r.Regions()) != 2 {
		t.Fatalf("NewRegional(us-east-1 + eu-west-1) = %v, %v", r, err)
	}
	cfg.Region = "cn-north-1"
	if _, err := NewRegional(cfg, []string{"cn-northwest-1"}, Options{}); err != nil {
		t.Errorf("NewRegional(cn-north-1 + cn-northwest-1): %v", err)
	}
}
