package emulator

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/rolesetup"
)

// callerIdentity is what GetCallerIdentity answers.
type callerIdentity struct{ arn, account string }

// identityCaller is the part of the STS client the start needs.
type identityCaller interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// awsPartner settles, in AWS mode, who the partner is: the account of the
// credentials (from GetCallerIdentity), which the own-account rule
// protects, and the principal customer roles trust: flagPrincipal, or the
// one the credentials are. The principal must be in the credentials'
// account: checks made with these credentials against roles trusting a
// principal of another account would all be denied, and the own-account
// rule must protect the account the checks really run from.
func awsPartner(ctx context.Context, c identityCaller, sources []any, flagPrincipal string) (account, principal string, err error) {
	out, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", "", fmt.Errorf("find the AWS credentials' account (sts:GetCallerIdentity): %w", err)
	}
	id := callerIdentity{arn: aws.ToString(out.Arn), account: aws.ToString(out.Account)}
	if !rolearn.IsAccountID(id.account) {
		return "", "", fmt.Errorf("sts:GetCallerIdentity returned account %q for %s, not a 12-digit account ID", id.account, id.arn)
	}
	if principal = flagPrincipal; principal == "" {
		if principal, err = derivePrincipal(id, configuredRoleARNs(sources)); err != nil {
			return "", "", err
		}
		if err := rolesetup.ValidatePrincipal(principal); err != nil {
			return "", "", fmt.Errorf("the AWS credentials cannot be the trusted principal: %w; "+
				"use credentials of the partner role, or pass it as --trusted-principal-arn", err)
		}
	}
	if a := rolearn.Account(principal); a != id.account {
		return "", "", fmt.Errorf("the trusted principal %s is in account %s, but the AWS credentials (%s) are in account %s: "+
			"checks with these credentials would be denied by every role trusting it; use credentials of account %s, "+
			"or a --trusted-principal-arn in account %s", principal, a, id.arn, id.account, a, id.account)
	}
	return id.account, principal, nil
}

// derivePrincipal is the principal a trust policy names for the caller: an
// IAM user or root as it is; an assumed-role session becomes its role. A
// session ARN does not carry the role's path, which a trust policy must
// name exactly, so the role is taken from the SDK configuration (a
// profile's role_arn, or AWS_ROLE_ARN) when one names this account and
// role; role names are unique in an account whatever the path, so that
// ARN is the role's. Otherwise the path is unknown (iam:GetRole is not
// asked for) and the flag is required.
func derivePrincipal(id callerIdentity, configured []string) (string, error) {
	p, err := rolearn.ParsePrincipal(id.arn)
	if err != nil || p.Kind != rolearn.KindAssumedRole {
		return id.arn, nil
	}
	name := p.Name
	for _, c := range configured {
		a, err := rolearn.Parse(c, rolearn.Rules{})
		if err == nil && a.Partition == p.Partition && a.Account == id.account && a.Name == name {
			return a.String(), nil
		}
	}
	return "", fmt.Errorf("the AWS credentials are a session of the role %s (%s), and sts:GetCallerIdentity does not tell the role's path, "+
		"which customers' trust policies must name exactly: pass --trusted-principal-arn arn:%s:iam::%s:role/<path/>%s "+
		"(aws iam get-role --role-name %s --query Role.Arn --output text)", name, id.arn, p.Partition, id.account, name, name)
}

// configuredRoleARNs are the role ARNs the SDK configuration names: the
// shared config profile's role_arn and AWS_ROLE_ARN.
func configuredRoleARNs(sources []any) []string {
	var arns []string
	for _, s := range sources {
		switch c := s.(type) {
		case awsconfig.SharedConfig:
			arns = append(arns, c.RoleARN)
		case *awsconfig.SharedConfig:
			arns = append(arns, c.RoleARN)
		case awsconfig.EnvConfig:
			arns = append(arns, c.RoleARN)
		case *awsconfig.EnvConfig:
			arns = append(arns, c.RoleARN)
		}
	}
	return arns
}
