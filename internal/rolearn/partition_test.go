package rolearn

import (
	"slices"
	"testing"
)

func TestPartitionOfRegion(t *testing.T) {
	tests := []struct{ region, want string }{
		{"us-east-1", "aws"},
		{"eu-west-3", "aws"},
		{"il-central-1", "aws"},
		{"", "aws"},
		{"cn-north-1", "aws-cn"},
		{"cn-northwest-1", "aws-cn"},
		{"us-gov-west-1", "aws-us-gov"},
		{"us-iso-east-1", "aws-iso"},
		{"us-isob-east-1", "aws-iso-b"},
		{"eu-isoe-west-1", "aws-iso-e"},
		{"us-isof-south-1", "aws-iso-f"},
		{"eusc-de-east-1", "aws-eusc"},
	}
	for _, tc := range tests {
		got := PartitionOfRegion(tc.region)
		if got != tc.want {
			t.Errorf("PartitionOfRegion(%q) = %q, want %q", tc.region, got, tc.want)
		}
		if !knownPartition(got) {
			t.Errorf("PartitionOfRegion(%q) = %q, a partition ARNs are refused in", tc.region, got)
		}
	}
}

func TestIsRegion(t *testing.T) {
	tests := []struct {
		region string
		want   bool
	}{
		{"us-east-1", true}, {"ap-southeast-5", true}, {"us-gov-west-1", true}, {"us-isob-east-1", true},
		{"eusc-de-east-1", true}, {"cn-northwest-1", true},
		{"", false}, {"not-a-region", false}, {"us-east", false}, {"US-EAST-1", false}, {"us-east-1#x", false},
		{"us-east-100", false}, {"useast-1", false}, {"us-east-1 ", false},
	}
	for _, tc := range tests {
		if got := IsRegion(tc.region); got != tc.want {
			t.Errorf("IsRegion(%q) = %t, want %t", tc.region, got, tc.want)
		}
	}
}

// Each partition's default Region is one of its own.
func TestDefaultRegion(t *testing.T) {
	for _, p := range partitions {
		if r := DefaultRegion(p.name); !IsRegionOf(r, p.name) {
			t.Errorf("DefaultRegion(%s) = %q, not a Region of it", p.name, r)
		}
	}
	if r := DefaultRegion("aws-nowhere"); r != "us-east-1" {
		t.Errorf("DefaultRegion of an unknown partition = %q", r)
	}
}

// DNSSuffixes names every partition's suffix, each once.
func TestDNSSuffixes(t *testing.T) {
	got := DNSSuffixes()
	for _, p := range partitions {
		if n := slices.Index(got, p.dnsSuffix); n < 0 || slices.Index(got[n+1:], p.dnsSuffix) >= 0 {
			t.Errorf("DNSSuffixes() = %q: %s (of %s) not there once", got, p.dnsSuffix, p.name)
		}
	}
	if len(got) != 7 { // aws and aws-us-gov share amazonaws.com
		t.Errorf("DNSSuffixes() = %q, want 7", got)
	}
}

func TestConsoleHost(t *testing.T) {
	tests := []struct{ partition, want string }{
		{"aws", "console.aws.amazon.com"},
		{"aws-cn", "console.amazonaws.cn"},
		{"aws-us-gov", "console.amazonaws-us-gov.com"},
		{"aws-iso", "console.aws.amazon.com"},
		{"nope", "console.aws.amazon.com"},
	}
	for _, tc := range tests {
		if got := ConsoleHost(tc.partition); got != tc.want {
			t.Errorf("ConsoleHost(%q) = %q, want %q", tc.partition, got, tc.want)
		}
	}
}

func TestDNSSuffix(t *testing.T) {
	tests := []struct{ region, want string }{
		{"us-east-1", "amazonaws.com"},
		{"us-gov-west-1", "amazonaws.com"},
		{"cn-north-1", "amazonaws.com.cn"},
		{"cn-northwest-1", "amazonaws.com.cn"},
		{"us-iso-east-1", "c2s.ic.gov"},
		{"eusc-de-east-1", "amazonaws.eu"},
		{"", "amazonaws.com"},
	}
	for _, tc := range tests {
		if got := DNSSuffix(tc.region); got != tc.want {
			t.Errorf("DNSSuffix(%q) = %q, want %q", tc.region, got, tc.want)
		}
	}
}

// The table ends with aws, the partition of every Region no other prefix
// claims, and only there is the prefix empty (an empty one earlier would
// claim every Region).
func TestPartitionTableEndsWithAWS(t *testing.T) {
	last := partitions[len(partitions)-1]
	if last.name != "aws" || last.regionPrefix != "" {
		t.Errorf("last partition %+v, want aws without a prefix", last)
	}
	for _, p := range partitions[:len(partitions)-1] {
		if p.regionPrefix == "" || p.dnsSuffix == "" {
			t.Errorf("partition %s has no Region prefix or DNS suffix", p.name)
		}
	}
}
