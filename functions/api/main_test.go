package main

import "testing"

func TestPartitionOf(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:iam::123456789012:role/Verifier":    "aws",
		"arn:aws-cn:iam::123456789012:role/Verifier": "aws-cn",
		"arn:aws-us-gov:iam::123456789012:root":      "aws-us-gov",
		"":                                           "aws",
		"not-an-arn":                                 "aws",
		"arn::iam::123456789012:role/x":              "aws",
	} {
		if got := partitionOf(arn); got != want {
			t.Errorf("partitionOf(%q) = %q, want %q", arn, got, want)
		}
	}
}
