package sandbox

import (
	"maps"
	"slices"
	"strings"
)

// This file gives the package's tests (internal and sandbox_test) views of
// the sandbox that production code has no use for; being a test file, it is
// no part of the package's API.

// Evaluate decides req against the policy as the sandbox decides a call of
// the request's principal: a principal that does not parse is denied. The
// policy is a role's of the partition req.Resource names, "aws" when it
// names none.
func (p *Policy) Evaluate(req Request) Decision {
	id, err := parseIdentity(req.Principal)
	if err != nil {
		return ImplicitDeny
	}
	partition := "aws"
	if parts := strings.SplitN(req.Resource, ":", 3); len(parts) == 3 && parts[0] == "arn" {
		partition = parts[1]
	}
	d, _ := p.evaluate(evalContext{req: req, id: id, partition: partition})
	return d
}

// Roles returns the ARNs of the sandbox roles, sorted.
func (s *STS) Roles() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.roles))
}

// Unserve takes action out of the table of served actions and their
// parameters until the test ends, as if it had never been entered there.
func Unserve(t interface{ Cleanup(func()) }, action string) {
	params, had := modelledParams[action]
	delete(modelledParams, action)
	t.Cleanup(func() {
		if had {
			modelledParams[action] = params
		}
	})
}
