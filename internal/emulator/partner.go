package emulator

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/rolecall/rolecall"
	"github.com/rolecall/rolecall/internal/sandbox"
	"github.com/rolecall/rolecall/internal/stack"
)

// The sandbox partner account, as template.yaml deploys it with
// Stage=local: the verify function's role, the partner access role (the
// principal customer roles trust) and one workload principal listed in
// WorkloadPrincipalArns, in an Organization of their own.
const (
	SandboxStage         = "local"
	SandboxVerifierARN   = "arn:aws:iam::" + SandboxPartnerAccount + ":role/rolecall-" + SandboxStage + "-verifier"
	SandboxWorkloadARN   = "arn:aws:iam::" + SandboxPartnerAccount + ":role/partner-workload"
	SandboxOrganization  = "o-rolecallpartner"
	SandboxWorkloadKeyID = "AKIAROLECALLWORKLOAD"
)

// partnerModel is the sandbox model of the partner account, with the
// access role's trust and permission policies and the verifier's sts:
// statements taken from template.yaml (resolved with Stage=local, the
// sandbox partner account and the workload principal). The sandbox models
// STS only, so the verifier's other statements (table, queue) are left
// out.
func partnerModel() ([]byte, error) {
	t, err := stack.ParseTemplate("template.yaml", rolecall.Template())
	if err != nil {
		return nil, err
	}
	vals := stack.Values{
		Params: map[string]string{
			"Stage": SandboxStage, "AWS::AccountId": SandboxPartnerAccount, "AWS::Partition": "aws",
			"WorkloadPrincipalArns": SandboxWorkloadARN, "DenyOwnOrganization": "true",
		},
		Attrs: map[string]string{"VerifyFunctionRole.Arn": SandboxVerifierARN},
	}
	roles := t.Resources("AWS::IAM::Role")
	resolve := func(id, prop string) (any, error) {
		r, ok := roles[id]
		if !ok {
			return nil, fmt.Errorf("template.yaml has no %s", id)
		}
		v, err := t.ResolveValue(stack.Properties(r)[prop], vals)
		if err != nil {
			return nil, fmt.Errorf("template.yaml %s %s: %w", id, prop, err)
		}
		return v, nil
	}
	name, err := resolve("PartnerAccessRole", "RoleName")
	if err != nil {
		return nil, err
	}
	if arn := "arn:aws:iam::" + SandboxPartnerAccount + ":role/" + fmt.Sprint(name); arn != SandboxPrincipalARN {
		return nil, fmt.Errorf("template.yaml names the access role %s, the sandbox %s", arn, SandboxPrincipalARN)
	}
	trust, err := resolve("PartnerAccessRole", "AssumeRolePolicyDocument")
	if err != nil {
		return nil, err
	}
	trustDoc, err := json.Marshal(trust)
	if err != nil {
		return nil, fmt.Errorf("template.yaml PartnerAccessRole trust: %w", err)
	}
	accessPolicies, err := policyDocuments(t, vals, "PartnerAccessRole", false)
	if err != nil {
		return nil, err
	}
	verifierPolicies, err := policyDocuments(t, vals, "VerifyFunctionRole", true)
	if err != nil {
		return nil, err
	}
	m := sandbox.Model{
		Organizations: map[string]string{SandboxPartnerAccount: SandboxOrganization},
		Roles: []sandbox.ModelRole{{ARN: SandboxPrincipalARN, TrustPolicy: trustDoc, IdentityPolicies: accessPolicies,
			MaxSessionDuration: 3600}},
		Callers: []sandbox.ModelCaller{
			{AccessKeyID: sandboxAccessKey, Principal: SandboxVerifierARN, IdentityPolicies: verifierPolicies},
			// The workload may assume the access role and nothing else,
			// as a partner would grant it (the access role's trust policy
			// names it, so in the same account even no grant would do).
			{AccessKeyID: SandboxWorkloadKeyID, Principal: SandboxWorkloadARN, IdentityPolicies: []json.RawMessage{
				json.RawMessage(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"` + SandboxPrincipalARN + `"}]}`),
			}},
		},
	}
	return json.Marshal(m)
}

// policyDocuments returns a role's inline policy documents, resolved;
// stsOnly keeps only the statements whose actions are all sts: actions
// (chosen before resolving, so the others may name resources the sandbox
// does not model). Leaving out an Allow only narrows what the sandbox
// lets the role do; leaving out a Deny would widen it, so a Deny that is
// not all sts: actions (Action "*", mixed actions, NotAction) is refused.
func policyDocuments(t stack.Template, vals stack.Values, id string, stsOnly bool) ([]json.RawMessage, error) {
	r, ok := t.Resources("AWS::IAM::Role")[id]
	if !ok {
		return nil, fmt.Errorf("template.yaml has no %s", id)
	}
	pols, _ := stack.Properties(r)["Policies"].([]any)
	var out []json.RawMessage
	for _, p := range pols {
		doc, _ := p.(map[string]any)["PolicyDocument"].(map[string]any)
		if doc == nil {
			return nil, fmt.Errorf("template.yaml %s: a policy without PolicyDocument", id)
		}
		if stsOnly {
			var kept []any
			// IAM takes one statement as an object, not in a list.
			var stmts []any
			switch st := doc["Statement"].(type) {
			case []any:
				stmts = st
			case map[string]any:
				stmts = []any{st}
			default:
				return nil, fmt.Errorf("template.yaml %s: a policy whose Statement is neither a statement nor a list of them is not modelled by the sandbox", id)
			}
			for _, s := range stmts {
				st, ok := s.(map[string]any)
				switch {
				case ok && onlySTS(st["Action"]) && st["NotAction"] == nil:
					kept = append(kept, s)
				case !ok || st["Effect"] != "Allow":
					return nil, fmt.Errorf("template.yaml %s: a statement that is not an Allow of sts: actions only (%v) is not modelled by the sandbox", id, s)
				}
			}
			if len(kept) == 0 {
				continue
			}
			doc = map[string]any{"Version": doc["Version"], "Statement": kept}
		}
		v, err := t.ResolveValue(doc, vals)
		if err != nil {
			return nil, fmt.Errorf("template.yaml %s policy: %w", id, err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("template.yaml %s policy: %w", id, err)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("template.yaml %s grants no sts: action", id)
	}
	return out, nil
}

func onlySTS(actions any) bool {
	list, ok := actions.([]any)
	if !ok {
		list = []any{actions}
	}
	for _, a := range list {
		if s, _ := a.(string); !strings.HasPrefix(s, "sts:") {
			return false
		}
	}
	return len(list) > 0
}
