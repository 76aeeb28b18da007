package rolearn

import (
	"regexp"
	"slices"
	"strings"
)

// partitionInfo is what RoleCall knows of an AWS partition. The SDK holds
// the same table (its endpoint rules' partitions), but only in an internal
// package, so it is written here once for every caller.
type partitionInfo struct {
	name string
	// regionPrefix starts the name of each of its Regions ("" for aws,
	// which has the Regions no other prefix claims).
	regionPrefix string
	// console is the host of its AWS console, "" where it has none on the
	// public internet (the ISO partitions, the European Sovereign Cloud
	// before launch): links there name the commercial console.
	console string
	// dnsSuffix ends the host names of its service endpoints.
	dnsSuffix string
	// region is the Region RoleCall uses in it when none is given.
	region string
}

// partitions: the more specific Region prefixes first (us-gov- and
// us-iso- before the aws fallback).
var partitions = []partitionInfo{
	{name: "aws-cn", regionPrefix: "cn-", console: "console.amazonaws.cn", dnsSuffix: "amazonaws.com.cn", region: "cn-north-1"},
	{name: "aws-us-gov", regionPrefix: "us-gov-", console: "console.amazonaws-us-gov.com", dnsSuffix: "amazonaws.com", region: "us-gov-west-1"},
	{name: "aws-iso", regionPrefix: "us-iso-", dnsSuffix: "c2s.ic.gov", region: "us-iso-east-1"},
	{name: "aws-iso-b", regionPrefix: "us-isob-", dnsSuffix: "sc2s.sgov.gov", region: "us-isob-east-1"},
	{name: "aws-iso-e", regionPrefix: "eu-isoe-", dnsSuffix: "cloud.adc-e.uk", region: "eu-isoe-west-1"},
	{name: "aws-iso-f", regionPrefix: "us-isof-", dnsSuffix: "csp.hci.ic.gov", region: "us-isof-south-1"},
	{name: "aws-eusc", regionPrefix: "eusc-", dnsSuffix: "amazonaws.eu", region: "eusc-de-east-1"},
	{name: "aws", console: "console.aws.amazon.com", dnsSuffix: "amazonaws.com", region: "us-east-1"},
}

func knownPartition(name string) bool {
	for _, p := range partitions {
		if p.name == name {
			return true
		}
	}
	return false
}

// regionPattern is the shape of an AWS Region name: a two- to four-letter
// prefix (us, cn, eusc), words, and a number (us-east-1, us-gov-west-1,
// us-isob-east-1, eusc-de-east-1).
var regionPattern = regexp.MustCompile(`^[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}$`)

// IsRegion reports whether s is shaped as an AWS Region name. It does not
// tell whether the Region exists: the SDK holds no list of them.
func IsRegion(s string) bool { return regionPattern.MatchString(s) }

// IsRegionOf reports whether region is shaped as a Region name and belongs
// to partition: a credential is scoped to the partition that issued it.
func IsRegionOf(region, partition string) bool {
	return IsRegion(region) && PartitionOfRegion(region) == partition
}

// PartitionOfRegion is the partition a Region belongs to, by the prefix of
// its name (cn-north-1: aws-cn, us-gov-west-1: aws-us-gov, ...); every
// other Region is in aws.
func PartitionOfRegion(region string) string { return partitionOf(region).name }

// partitionOf is the entry of partitions for region: the first whose
// prefix it has, else the last, aws's.
func partitionOf(region string) partitionInfo {
	last := len(partitions) - 1
	for _, p := range partitions[:last] {
		if strings.HasPrefix(region, p.regionPrefix) {
			return p
		}
	}
	return partitions[last]
}

// ConsoleHost is the host of the AWS console of a partition: the
// commercial console's for aws and for the partitions without a console of
// their own on the public internet.
func ConsoleHost(partition string) string {
	for _, p := range partitions {
		if p.name == partition && p.console != "" {
			return p.console
		}
	}
	return "console.aws.amazon.com"
}

// DNSSuffix is the domain that ends the host names of a Region's service
// endpoints (amazonaws.com, amazonaws.com.cn for the China Regions, ...):
// an endpoint under another partition's domain is not that Region's.
func DNSSuffix(region string) string { return partitionOf(region).dnsSuffix }

// DefaultRegion is the Region RoleCall uses in partition when none is
// given: us-east-1 in aws, cn-north-1 in aws-cn, us-gov-west-1 in
// aws-us-gov, and so on; us-east-1 for a partition it does not know.
func DefaultRegion(partition string) string {
	for _, p := range partitions {
		if p.name == partition {
			return p.region
		}
	}
	return "us-east-1"
}

// DNSSuffixes are the host-name suffixes of every partition's service
// endpoints, each once.
func DNSSuffixes() []string {
	var out []string
	for _, p := range partitions {
		if !slices.Contains(out, p.dnsSuffix) {
			out = append(out, p.dnsSuffix)
		}
	}
	return out
}
