package rolearn

import (
	"regexp"
	"strings"
)

// executeAPIHost matches an API Gateway invoke host, public
// (<api-id>.execute-api.<region>.amazonaws.com) or private
// (<api-id>-<vpce-id>.execute-api.<region>.vpce.amazonaws.com), under the
// DNS suffix of any partition (amazonaws.com.cn, amazonaws.eu, c2s.ic.gov,
// ...: template.yaml's ApiUrl is built with AWS::URLSuffix); the label
// after execute-api is the Region.
var executeAPIHost = regexp.MustCompile(`^[a-z0-9-]+\.execute-api\.([a-z0-9-]+)\.(?:vpce\.)?(?:` + quotedSuffixes() + `)$`)

func quotedSuffixes() string {
	s := DNSSuffixes()
	for i := range s {
		s[i] = regexp.QuoteMeta(s[i])
	}
	return strings.Join(s, "|")
}

// ExecuteAPIRegion is the Region an API Gateway invoke host names
// (eu-west-1 for abc123.execute-api.eu-west-1.amazonaws.com), which is
// the Region a SigV4 signature for it must name; "" for any other host
// (a custom domain names none). DNS names are read case-insensitively,
// with or without the root's dot.
func ExecuteAPIRegion(host string) string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if m := executeAPIHost.FindStringSubmatch(host); m != nil {
		return m[1]
	}
	return ""
}
