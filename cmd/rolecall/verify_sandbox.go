package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/sandbox"
)

// verifySandboxFile is the --sandbox-file format.
type verifySandboxFile struct {
	CallerPrincipalARN string                     `json:"callerPrincipalArn"`
	Roles              map[string]json.RawMessage `json:"roles"`
}

// verifyLoadSandbox builds a sandbox STS from a sandbox file and returns it with
// the caller principal. It calls in region, or with "" in the caller's
// partition's default Region.
func verifyLoadSandbox(path, region string) (*sandbox.STS, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	var f verifySandboxFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	if f.CallerPrincipalARN == "" {
		return nil, "", fmt.Errorf("%s: callerPrincipalArn is required", path)
	}
	if err := sandbox.ValidatePrincipal(f.CallerPrincipalARN); err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	partition := rolearn.Partition(f.CallerPrincipalARN)
	if region == "" {
		region = rolearn.DefaultRegion(partition)
	}
	if !rolearn.IsRegionOf(region, partition) {
		// STS there would refuse a credential scoped to it.
		return nil, "", fmt.Errorf("--region %q is not a Region of the caller's partition %s", region, partition)
	}
	s := sandbox.New(sandbox.Config{Partition: partition, Region: region})
	arns := make([]string, 0, len(f.Roles))
	for arn := range f.Roles {
		arns = append(arns, arn)
	}
	sort.Strings(arns)
	for _, arn := range arns {
		if err := s.PutRole(arn, f.Roles[arn]); err != nil {
			return nil, "", fmt.Errorf("%s: %w", path, err)
		}
	}
	return s, f.CallerPrincipalARN, nil
}
