package probe

import (
	"strings"

	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/tenant/secret"
)

// decoyFor is a fresh random external ID for the decoy probe of a check
// made with externalID, which a trust policy that enforces the external ID
// must deny, and which differs from every ID of avoid (the tenant's
// current and previous ones), ignoring case (StringEqualsIgnoreCase).
//
// The decoy has externalID's shape, so that a wildcard condition written
// for the ID's form accepts the decoy too and shows as the hole it is:
//   - an ID RoleCall generated (tenant.IsGeneratedExternalID) gets another
//     one, "rc-" and 160 random bits, which "rc-*" accepts;
//   - any other ID (one given to `rolecall verify --external-id`, such as
//     a partner's own "acme-123") keeps everything but its last run of
//     letters and digits, which is replaced by random ones of the same
//     length and kinds (digits, lower-case, upper-case letters): "acme-123"
//     gets "acme-" and three random digits, which "acme-*" and "acme-???"
//     accept. Without a separator before that run, the run keeps its part
//     before its last change between letters and digits ("legacy123":
//     "legacy" and three digits, which "legacy*" accepts).
//
// A wildcard anywhere else in the pattern ("*-123") may still deny the
// decoy: one probe cannot try every shape.
func decoyFor(externalID string, avoid ...string) string {
	return fresh(func() string { return decoyOnce(externalID) }, avoid)
}

// decoysFor is the decoys a check made with externalID sends: decoyFor's,
// and for an ID RoleCall did not generate also one of RoleCall's own
// shape, so that a trust policy that also accepts any ID of RoleCall's
// shape ("rc-*", which every tenant's ID matches) is caught too: the
// decoy of the ID's shape adds a hole it catches, and hides none.
func decoysFor(externalID string, avoid ...string) []string {
	d := decoyFor(externalID, avoid...)
	if tenant.IsGeneratedExternalID(d) {
		return []string{d}
	}
	return []string{d, fresh(tenant.NewExternalID, avoid)}
}

// fresh draws from next until it gives none of avoid, ignoring case.
func fresh(next func() string, avoid []string) string {
	for {
		if d := next(); !containsFold(avoid, d) {
			return d
		}
	}
}

func decoyOnce(id string) string {
	if tenant.IsGeneratedExternalID(id) {
		return tenant.NewExternalID()
	}
	start, end := tail(id)
	if start == end {
		return tenant.NewExternalID() // no letter or digit to vary
	}
	return id[:start] + randomLike(id[start:end]) + id[end:]
}

// tail is the part of id a decoy replaces: its last run of ASCII letters
// and digits, from its last change between letters and digits when no
// separator comes before the run (and the run is not all one kind).
func tail(id string) (start, end int) {
	end = len(id)
	for end > 0 && !isAlnum(id[end-1]) {
		end--
	}
	start = end
	for start > 0 && isAlnum(id[start-1]) {
		start--
	}
	if start == 0 {
		for i := end - 1; i > 0; i-- {
			if isDigit(id[i]) != isDigit(id[i-1]) {
				return i, end
			}
		}
	}
	return start, end
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlnum(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// The kinds of characters a decoy's random run is drawn from.
const (
	digits = "0123456789"
	lower  = "abcdefghijklmnopqrstuvwxyz"
	upper  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
)

// randomLike is a random string as long as run (ASCII letters and
// digits), each character drawn from the kinds run holds.
func randomLike(run string) string {
	var alphabet string
	for _, kind := range []string{digits, lower, upper} {
		if strings.ContainsAny(run, kind) {
			alphabet += kind
		}
	}
	// Bytes at or above the largest multiple of len(alphabet) are drawn
	// again, so that every character is equally likely.
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, len(run))
	for len(out) < len(run) {
		for _, b := range secret.Random(len(run) - len(out)) {
			if int(b) < limit {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}

// containsFold reports whether ids holds s, ignoring case.
func containsFold(ids []string, s string) bool {
	for _, id := range ids {
		if strings.EqualFold(id, s) {
			return true
		}
	}
	return false
}
