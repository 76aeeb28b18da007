package access

import (
	"cmp"
	"fmt"

	"github.com/rolecall/rolecall/internal/rolearn"
)

// RegionError refuses an AWS configuration whose Region is not one of the
// partner access role's partition (eu-west-1 for an access role
// arn:aws-cn:…): STS takes only credentials scoped to a Region of the
// partition that issued them, so every call there would be refused, and no
// call is made. It matches ErrAccessRole with errors.Is: the partner's
// configuration is at fault, never the customer's role, so it asks
// RoleCall for no re-check.
type RegionError struct {
	// Region is the configured one.
	Region string
	// Partition is the access role's.
	Partition string
	// RoleARN is the access role's.
	RoleARN string
}

func (e *RegionError) Error() string {
	return fmt.Sprintf("%v %s: the AWS configuration's Region %q is not a Region of its partition %s; configure one of %s (such as %s), or none",
		ErrAccessRole, e.RoleARN, e.Region, e.Partition, e.Partition, rolearn.DefaultRegion(e.Partition))
}

func (e *RegionError) Unwrap() error { return ErrAccessRole }

// stsRegion is the Region of the STS calls that go through the access
// role accessRoleARN: configured (the aws.Config's), else the default
// Region of the access role's partition (cn-north-1 for arn:aws-cn:…),
// where its sessions and the customer roles it may assume are. The
// partition is the ARN's, else partition (the one RoleCall's answer
// names), else aws. A configured Region of another partition is a
// *RegionError.
func stsRegion(configured, accessRoleARN, partition string) (string, error) {
	p := rolearn.PartitionOr(accessRoleARN, cmp.Or(partition, "aws"))
	if configured == "" {
		return rolearn.DefaultRegion(p), nil
	}
	if !rolearn.IsRegionOf(configured, p) {
		return "", &RegionError{Region: configured, Partition: p, RoleARN: accessRoleARN}
	}
	return configured, nil
}
