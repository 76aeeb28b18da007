package awsfake

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rolecall/rolecall/internal/rolearn"
)

// ChainSTS is an STS endpoint (Query protocol) that knows its callers by
// the access key of their SigV4 signature (it checks no signature: the
// sandbox STS is the strict one), assumes roles whose trust names the
// caller's role (and the external ID, when the role requires one) and
// issues sessions that can call it in turn: enough to prove a chain
// workload -> access role -> customer role through the real SDK.
type ChainSTS struct {
	mu         sync.Mutex
	principals map[string]string // access key -> principal ARN
	roles      map[string]chainRole
	assumed    map[string]int      // role ARN -> successful AssumeRole calls
	calls      []url.Values        // every request's form
	callers    map[string][]string // role ARN -> principal ARN of each AssumeRole caller
	expiresIn  time.Duration
	n          int
}

// AddPrincipal makes accessKey the key of principalARN.
func (f *ChainSTS) AddPrincipal(accessKey, principalARN string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.principals[accessKey] = principalARN
}

// Callers returns the principal of each successful AssumeRole of roleARN.
func (f *ChainSTS) Callers(roleARN string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.callers[roleARN]...)
}

// Requests returns the form of every request received.
func (f *ChainSTS) Requests() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.calls...)
}

// CallerRoles returns, for each successful AssumeRole of roleARN, the
// role whose session called (or the caller itself when it is no session).
func (f *ChainSTS) CallerRoles(roleARN string) []string {
	var out []string
	for _, p := range f.Callers(roleARN) {
		out = append(out, roleOf(p))
	}
	return out
}

type chainRole struct {
	trusts     string // the role ARN allowed to assume it
	externalID string // required when set
}

// NewChainSTS returns a ChainSTS that knows no principal and no role; serve
// it with httptest.
func NewChainSTS() *ChainSTS {
	return &ChainSTS{principals: map[string]string{}, roles: map[string]chainRole{}, assumed: map[string]int{},
		callers: map[string][]string{}, expiresIn: time.Hour}
}

func (f *ChainSTS) AddRole(arn, trusts, externalID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.roles[arn] = chainRole{trusts: trusts, externalID: externalID}
}

func (f *ChainSTS) DeleteRole(arn string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.roles, arn)
}

func (f *ChainSTS) Assumed(arn string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.assumed[arn]
}

func (f *ChainSTS) SetExpiry(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expiresIn = d
}

// roleOf turns an assumed-role ARN into its role's ARN.
func roleOf(principal string) string {
	if p, err := rolearn.ParsePrincipal(principal); err == nil && p.Kind == rolearn.KindAssumedRole {
		return p.RoleARN()
	}
	return principal
}

func accessKeyOf(r *http.Request) string {
	_, cred, ok := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	if !ok {
		return ""
	}
	key, _, _ := strings.Cut(cred, "/")
	return key
}

func (f *ChainSTS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r.PostForm)
	caller, ok := f.principals[accessKeyOf(r)]
	if !ok {
		stsError(w, http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid.")
		return
	}
	switch r.PostForm.Get("Action") {
	case "GetCallerIdentity":
		acct := rolearn.Account(caller)
		fmt.Fprintf(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>%s</Arn><UserId>AIDFAKE</UserId><Account>%s</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>`, caller, acct)
	case "AssumeRole":
		if msg := durationRefusal(r.PostForm, caller); msg != "" {
			stsError(w, http.StatusBadRequest, "ValidationError", msg)
			return
		}
		arn := r.PostForm.Get("RoleArn")
		role, exists := f.roles[arn]
		target, perr := rolearn.ParsePrincipal(arn)
		if !exists || perr != nil || target.Kind != rolearn.KindRole || role.trusts != roleOf(caller) || (role.externalID != "" && r.PostForm.Get("ExternalId") != role.externalID) {
			stsError(w, http.StatusForbidden, "AccessDenied", "User: "+caller+" is not authorized to perform: sts:AssumeRole on resource: "+arn)
			return
		}
		f.n++
		f.assumed[arn]++
		f.callers[arn] = append(f.callers[arn], caller)
		key := fmt.Sprintf("ASIAFAKE%08d", f.n)
		session := r.PostForm.Get("RoleSessionName")
		assumed := target.SessionARN(session)
		f.principals[key] = assumed
		exp := time.Now().Add(f.expiresIn).UTC().Format(time.RFC3339)
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(assumed))
		fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>secret-%d</SecretAccessKey><SessionToken>token-%d</SessionToken><Expiration>%s</Expiration></Credentials><AssumedRoleUser><Arn>%s</Arn><AssumedRoleId>AROAFAKE:%s</AssumedRoleId></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleResponse>`,
			key, f.n, f.n, exp, b.String(), session)
	default:
		stsError(w, http.StatusBadRequest, "InvalidAction", "unsupported")
	}
}

// Session durations STS accepts: DurationSeconds from 900 s to 12 hours,
// 3600 s when absent, and at most the role's MaxSessionDuration (every
// ChainSTS role has IAM's default, one hour) and one hour for a session
// assumed with role-session credentials (role chaining), whatever the
// role's maximum.
const (
	minSessionSeconds     = 900
	maxSessionSeconds     = 43200
	roleMaxSessionSeconds = 3600
	chainedSessionSeconds = 3600
)

// durationRefusal is STS's ValidationError message for the request's
// DurationSeconds, or "" when STS would accept it; caller is the
// principal the request is signed by.
func durationRefusal(form url.Values, caller string) string {
	raw, present := form["DurationSeconds"]
	if !present {
		return ""
	}
	d, err := strconv.ParseInt(raw[0], 10, 32)
	if err != nil {
		return fmt.Sprintf("Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must be an integer", raw[0])
	}
	switch {
	case d < minSessionSeconds:
		return fmt.Sprintf("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to %d", d, minSessionSeconds)
	case d > maxSessionSeconds:
		return fmt.Sprintf("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to %d", d, maxSessionSeconds)
	case d > chainedSessionSeconds && roleOf(caller) != caller:
		return "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
	case d > roleMaxSessionSeconds:
		return "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
	}
	return ""
}
