// Package rolecall embeds the deployable stack, template.yaml, so that
// `rolecall serve` models the partner account (the verifier, the partner
// access role) with the IAM policies the stack deploys, not copies of them.
package rolecall

import (
	"bytes"
	_ "embed"
)

//go:embed template.yaml
var template []byte

// Template returns template.yaml, byte for byte (a copy).
func Template() []byte { return bytes.Clone(template) }
