package access

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// fakeSTS is an STS endpoint (Query protocol) that knows its callers by
// the access key of their SigV4 signature, assumes roles whose trust names
// the caller's role (and the external ID, when the role requires one) and
// issues sessions that can call it in turn: enough to prove the chain
// workload -> access role -> customer role.
type fakeSTS struct {
	mu         sync.Mutex
	principals map[string]string // access key -> principal ARN
	roles      map[string]fakeRole
	assumed    map[string]int      // role ARN -> successful AssumeRole calls
	calls      []url.Values        // every request's form
	callers    map[string][]string // role ARN -> principal ARN of each AssumeRole caller
	expiresIn  time.Duration
	n          int
}

type fakeRole struct {
	trusts     string // the role ARN allowed to assume it
	externalID string // required when set
}

func newFakeSTS() *fakeSTS {
	return &fakeSTS{principals: map[string]string{}, roles: map[string]fakeRole{}, assumed: map[string]int{},
		callers: map[string][]string{}, expiresIn: time.Hour}
}

func (f *fakeSTS) addRole(arn, trusts, externalID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.roles[arn] = fakeRole{trusts: trusts, externalID: externalID}
}

func (f *fakeSTS) deleteRole(arn string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.roles, arn)
}

func (f *fakeSTS) count(arn string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.assumed[arn]
}

func (f *fakeSTS) setExpiry(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expiresIn = d
}

// roleOf turns an assumed-role ARN into its role's ARN.
func roleOf(principal string) string {
	p := strings.SplitN(principal, ":", 6)
	if len(p) == 6 && p[2] == "sts" && strings.HasPrefix(p[5], "assumed-role/") {
		name := strings.Split(strings.TrimPrefix(p[5], "assumed-role/"), "/")[0]
		return "arn:" + p[1] + ":iam::" + p[4] + ":role/" + name
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

func (f *fakeSTS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
		acct := strings.SplitN(caller, ":", 6)[4]
		fmt.Fprintf(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>%s</Arn><UserId>AIDFAKE</UserId><Account>%s</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>`, caller, acct)
	case "AssumeRole":
		arn := r.PostForm.Get("RoleArn")
		role, exists := f.roles[arn]
		if !exists || role.trusts != roleOf(caller) || (role.externalID != "" && r.PostForm.Get("ExternalId") != role.externalID) {
			stsError(w, http.StatusForbidden, "AccessDenied", "User: "+caller+" is not authorized to perform: sts:AssumeRole on resource: "+arn)
			return
		}
		f.n++
		f.assumed[arn]++
		f.callers[arn] = append(f.callers[arn], caller)
		key := fmt.Sprintf("ASIAFAKE%08d", f.n)
		p := strings.SplitN(arn, ":", 6)
		session := r.PostForm.Get("RoleSessionName")
		assumed := "arn:" + p[1] + ":sts::" + p[4] + ":assumed-role/" + strings.TrimPrefix(p[5], "role/") + "/" + session
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

func stsError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(msg))
	fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>r</RequestId></ErrorResponse>`, code, b.String())
}

// fakeAPI is RoleCall's access and check routes over a fixed set of
// connections, authorized by a bearer token.
type fakeAPI struct {
	mu       sync.Mutex
	token    string
	conns    map[Ref]Connection
	reasons  map[Ref]Reason
	checks   []Ref
	requests int
}

func (f *fakeAPI) setStatus(ref Ref, status string, reason Reason) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.conns[ref]
	c.Status = status
	f.conns[ref] = c
	f.reasons[ref] = reason
}

func (f *fakeAPI) checked() []Ref {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Ref(nil), f.checks...)
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":{"code":"UNAUTHENTICATED","message":"this route needs the operations credentials"}}`))
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1/tenants/"), "/")
	if len(parts) != 4 || parts[1] != "connections" {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"code":"NOT_FOUND","message":"no such route"}}`))
		return
	}
	ref := Ref{TenantID: parts[0], AccountID: parts[2]}
	c, ok := f.conns[ref]
	switch {
	case !ok:
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"code":"NOT_FOUND","message":"no such connection"}}`))
	case r.Method == http.MethodPost && parts[3] == "check":
		f.checks = append(f.checks, ref)
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{}`))
	case r.Method == http.MethodGet && parts[3] == "access" && c.Status != "VERIFIED":
		w.WriteHeader(http.StatusConflict)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"error":      map[string]string{"code": "NOT_VERIFIED", "message": "the connection is " + c.Status},
			"connection": map[string]any{"status": c.Status, "reason": f.reasons[ref]},
		})
	case r.Method == http.MethodGet && parts[3] == "access":
		_ = json.NewEncoder(w).Encode(c)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}
