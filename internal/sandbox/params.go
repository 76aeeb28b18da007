package sandbox

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/rolecall/rolecall/internal/truncate"
)

// modelledParams are the request parameters the sandbox evaluates, per STS
// action it serves. STS applies every other parameter it defines
// (SourceIdentity, Tags and TransitiveTagKeys, PolicyArns, SerialNumber and
// TokenCode, ProvidedContexts…), and each of them either needs a permission
// in the trust policy or changes what the session may do; a sandbox that
// ignored one would issue credentials IAM refuses, or broader ones than
// asked for. So a call carrying any other parameter is refused.
var modelledParams = map[string]map[string]bool{
	"AssumeRole":        {"RoleArn": true, "RoleSessionName": true, "ExternalId": true, "Policy": true, "DurationSeconds": true},
	"GetCallerIdentity": {},
}

// protocolParams are the Query protocol's own parameters, and those of a
// presigned (query-string signed) request, accepted with every action.
var protocolParams = map[string]bool{
	"Action": true, "Version": true,
	"X-Amz-Algorithm": true, "X-Amz-Credential": true, "X-Amz-Date": true, "X-Amz-Expires": true,
	"X-Amz-SignedHeaders": true, "X-Amz-Signature": true, "X-Amz-Security-Token": true,
}

// unmodelledParams returns, sorted, the names of the form's parameters the
// sandbox does not model for action.
func unmodelledParams(action string, form url.Values) []string {
	var out []string
	for name := range form {
		if !protocolParams[name] && !modelledParams[action][name] {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// maxNamesShown bounds the parameter names an error lists, and maxNameShown
// each name's length: the names are the client's, and the error is echoed.
const (
	maxNamesShown = 5
	maxNameShown  = 64
)

// unmodelledError is the refusal of a call with parameters the sandbox does
// not model. It names them (never their values, which may be secrets) so a
// client shows what to drop.
func unmodelledError(action string, names []string) *APIError {
	shown := make([]string, 0, maxNamesShown)
	for i, n := range names {
		if i == maxNamesShown {
			shown = append(shown, fmt.Sprintf("and %d more", len(names)-i))
			break
		}
		shown = append(shown, truncate.String(n, maxNameShown))
	}
	return &APIError{Code: "ValidationError", Status: http.StatusBadRequest,
		Message: fmt.Sprintf("The sandbox STS does not model the %s parameter(s) %s and refuses the call rather than ignore them; it takes %s.",
			action, strings.Join(shown, ", "), takes(action))}
}

// takes says which parameters the sandbox models for action ("only
// DurationSeconds, ExternalId, …", or "no parameters"), for its refusals.
func takes(action string) string {
	names := make([]string, 0, len(modelledParams[action]))
	for n := range modelledParams[action] {
		names = append(names, n)
	}
	if len(names) == 0 {
		return "no parameters"
	}
	sort.Strings(names)
	return "only " + strings.Join(names, ", ")
}
