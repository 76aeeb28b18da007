package awsfake

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/sandbox"
)

// ChainSTS is the sandbox STS (internal/sandbox) served with a record of
// what it was asked, for tests of the chain workload -> access role ->
// customer role through the real SDK. Every call is answered by the
// sandbox, which evaluates trust policies, external IDs, session durations
// and session signatures as IAM does; ChainSTS only sets roles up in a few
// words and remembers who assumed which role.
type ChainSTS struct {
	sts *sandbox.STS
	// lag is how far the sandbox's clock runs behind the real one
	// (SetExpiry), in nanoseconds.
	lag atomic.Int64

	mu sync.Mutex
	// principals: access key -> principal ARN, for the keys AddPrincipal
	// configured and the sessions the sandbox issued.
	principals map[string]string
	assumed    map[string]int      // role ARN -> successful AssumeRole calls
	calls      []url.Values        // every request's form
	callers    map[string][]string // role ARN -> principal ARN of each AssumeRole caller
}

// NewChainSTS returns a ChainSTS that knows no principal and no role; serve
// it with httptest.
func NewChainSTS() *ChainSTS { return NewChainSTSIn("aws") }

// NewChainSTSIn is NewChainSTS for partition, at its default Region.
func NewChainSTSIn(partition string) *ChainSTS {
	f := &ChainSTS{principals: map[string]string{}, assumed: map[string]int{}, callers: map[string][]string{}}
	f.sts = sandbox.New(sandbox.Config{Partition: partition, Region: rolearn.DefaultRegion(partition),
		Now: func() time.Time { return time.Now().Add(-time.Duration(f.lag.Load())) }})
	return f
}

// AddPrincipal makes accessKey the key of principalARN (a role ARN stands
// for a session of that role); it signs with the secret
// sandbox.DefaultCallerSecret(accessKey). It panics on an ARN the sandbox
// refuses.
func (f *ChainSTS) AddPrincipal(accessKey, principalARN string) {
	must(f.sts.SetCaller(accessKey, principalARN))
	f.mu.Lock()
	defer f.mu.Unlock()
	f.principals[accessKey] = principalARN
}

// AddRole creates or replaces the role arn, trusting the role trusts (its
// sessions) and, when externalID is set, only with that external ID. The
// sessions of trusts may assume any role (the sandbox's
// DefaultCallerPolicy), as a partner's access role may. It panics on an
// ARN the sandbox refuses.
func (f *ChainSTS) AddRole(arn, trusts, externalID string) {
	cond := ""
	if externalID != "" {
		cond = fmt.Sprintf(`,"Condition":{"StringEquals":{"sts:ExternalId":%q}}`, externalID)
	}
	must(f.sts.PutRole(arn, fmt.Appendf(nil, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":%q},"Action":"sts:AssumeRole"%s}]}`, trusts, cond)))
	must(f.sts.SetIdentityPolicies(trusts, []byte(sandbox.DefaultCallerPolicy)))
}

func must(err error) {
	if err != nil {
		panic("awsfake: " + err.Error())
	}
}

// DeleteRole deletes the role arn, as IAM does: its sessions stop working,
// and a role created again under its ARN is another role.
func (f *ChainSTS) DeleteRole(arn string) { f.sts.DeleteRole(arn) }

// SetExpiry makes every hour-long session (STS's default) expire d after
// it is issued, by running the sandbox's clock an hour less d behind the
// real one; the session stays valid at the sandbox for its whole hour.
func (f *ChainSTS) SetExpiry(d time.Duration) { f.lag.Store(int64(time.Hour - d)) }

// Assumed returns how many AssumeRole calls of arn succeeded.
func (f *ChainSTS) Assumed(arn string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.assumed[arn]
}

// Callers returns the principal of each successful AssumeRole of roleARN:
// the ARN AddPrincipal gave a configured key, the assumed-role ARN of a
// session.
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

// assumedRole is the part of an AssumeRole answer the record keeps.
type assumedRole struct {
	AccessKeyID string `xml:"AssumeRoleResult>Credentials>AccessKeyId"`
	ARN         string `xml:"AssumeRoleResult>AssumedRoleUser>Arn"`
}

// ServeHTTP has the sandbox answer, and records the request's form and,
// for an AssumeRole that succeeded, who called and the session issued,
// before the answer reaches the client.
func (f *ChainSTS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	rec := httptest.NewRecorder()
	f.sts.ServeHTTP(rec, r)
	f.mu.Lock()
	f.calls = append(f.calls, form)
	var out assumedRole
	if form.Get("Action") == "AssumeRole" && rec.Code == http.StatusOK && xml.Unmarshal(rec.Body.Bytes(), &out) == nil {
		arn := form.Get("RoleArn")
		f.assumed[arn]++
		f.callers[arn] = append(f.callers[arn], f.principals[accessKeyOf(r)])
		f.principals[out.AccessKeyID] = out.ARN
	}
	f.mu.Unlock()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}
