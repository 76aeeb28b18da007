package sandbox

import (
	"fmt"
	"unicode/utf8"
)

// The limits IAM puts on a policy document's text (IAM User Guide, "IAM and
// AWS STS quotas"), whitespace not counted.
const (
	// MaxTrustPolicyChars is IAM's default quota for a role trust policy.
	// An account can have it raised to 4,096; the sandbox holds every
	// account to the default, so it never accepts a trust policy an
	// account that has not asked for more would be refused.
	MaxTrustPolicyChars = 2048
	// MaxPolicyChars is the largest identity-based policy the sandbox
	// loads. IAM allows more (6,144 for a managed policy, 10,240 for a
	// role's inline policies together): the sandbox refuses a few documents
	// IAM accepts, never the reverse.
	MaxPolicyChars = 4096
)

// policyChar reports whether IAM accepts r in a policy document: tab, line
// feed, carriage return, and U+0020 to U+00FF (Basic Latin and Latin-1
// Supplement), the pattern of CreateRole's and UpdateAssumeRolePolicy's
// AssumeRolePolicyDocument, PutRolePolicy's PolicyDocument and
// AssumeRole's Policy.
func policyChar(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xFF
}

// jsonSpace reports whether c is JSON whitespace, which IAM does not count
// against a policy's size.
func jsonSpace(c rune) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// checkDocumentText refuses a document with bytes that are not UTF-8 or a
// character IAM does not accept (naming its position, never the
// document's text), or with more than limit characters other than
// whitespace.
func checkDocumentText(doc []byte, limit int) error {
	n := 0
	for i := 0; i < len(doc); {
		r, size := utf8.DecodeRune(doc[i:])
		if r == utf8.RuneError && size <= 1 {
			return invalid("", "the document is not UTF-8 text: %s", position(doc, i))
		}
		if !policyChar(r) {
			return invalid("", "character U+%04X at %s is not one IAM accepts in a policy document (tab, line feed, carriage return and U+0020 to U+00FF only)", r, position(doc, i))
		}
		if !jsonSpace(r) {
			n++
		}
		i += size
	}
	if n > limit {
		return invalid("", "the document has %d characters (whitespace not counted); IAM allows at most %d", n, limit)
	}
	return nil
}

// checkDecodedString refuses a JSON string whose escapes (\uXXXX) decode
// to a character outside IAM's set: the text IAM checks holds only the
// escape, and how IAM reads such a string is not modelled. end is the byte
// offset just after the string in doc.
func checkDecodedString(doc []byte, s string, end int64) error {
	for _, r := range s {
		if !policyChar(r) {
			return unsupported("", "a JSON escape in the string ending at %s decodes to U+%04X, outside IAM's policy character set (tab, line feed, carriage return and U+0020 to U+00FF); the sandbox does not model how IAM reads it", position(doc, int(end)), r)
		}
	}
	return nil
}

// position renders byte offset off of doc as a 1-based line and column
// (in characters).
func position(doc []byte, off int) string {
	off = min(max(off, 0), len(doc))
	line, col := 1, 1
	for i := 0; i < off; {
		r, size := utf8.DecodeRune(doc[i:])
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += size
	}
	return fmt.Sprintf("line %d, column %d", line, col)
}
