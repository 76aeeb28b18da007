package awsfake

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/rolecall/rolecall/internal/rolearn"
)

// STS is a fake STS endpoint (AWS Query protocol) that denies every
// AssumeRole, as IAM does for a role that does not trust the caller,
// except of the roles granted with Grant (such as the partner access role
// the verifier chains through), and answers GetCallerIdentity with the
// identity SetCaller gave it (none: an unsupported action). It records the
// requests' form values.
type STS struct {
	mu      sync.Mutex
	calls   []url.Values
	caller  string // GetCallerIdentity's Arn
	granted map[string]bool
}

// SetCaller sets the ARN GetCallerIdentity returns, e.g.
// arn:aws:sts::111122223333:assumed-role/Name/session; its account is the
// ARN's fifth field.
func (f *STS) SetCaller(arn string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.caller = arn
}

// Grant lets every caller assume roleARN: AssumeRole answers with fake
// session credentials valid for an hour.
func (f *STS) Grant(roleARN string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.granted == nil {
		f.granted = map[string]bool{}
	}
	f.granted[roleARN] = true
}

// NewSTS returns a fake STS; serve it with httptest.
func NewSTS() *STS { return &STS{} }

// Calls returns the form values of the requests received, in order.
func (f *STS) Calls() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.calls...)
}

func (f *STS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.calls = append(f.calls, r.PostForm)
	caller := f.caller
	granted := f.granted[r.PostForm.Get("RoleArn")]
	f.mu.Unlock()
	if r.PostForm.Get("Action") == "GetCallerIdentity" && caller != "" {
		writeCallerIdentity(w, caller)
		return
	}
	if granted && r.PostForm.Get("Action") == "AssumeRole" {
		grant(w, r.PostForm.Get("RoleArn"), r.PostForm.Get("RoleSessionName"))
		return
	}
	if r.PostForm.Get("Action") != "AssumeRole" {
		stsError(w, http.StatusBadRequest, "InvalidAction", "unsupported action")
		return
	}
	stsError(w, http.StatusForbidden, "AccessDenied", "User is not authorized to perform: sts:AssumeRole on resource: "+r.PostForm.Get("RoleArn"))
}

// stsError answers with an STS Query error document (Type Sender), as
// both fake STS servers do.
func stsError(w http.ResponseWriter, status int, code, message string) {
	type errDoc struct {
		XMLName   xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ ErrorResponse"`
		Type      string   `xml:"Error>Type"`
		Code      string   `xml:"Error>Code"`
		Message   string   `xml:"Error>Message"`
		RequestID string   `xml:"RequestId"`
	}
	doc := errDoc{Type: "Sender", Code: code, Message: message, RequestID: "req-fake"}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	_ = xml.NewEncoder(w).Encode(doc)
}

// writeCallerIdentity answers GetCallerIdentity for the caller ARN.
func writeCallerIdentity(w http.ResponseWriter, arn string) {
	type result struct {
		Arn     string `xml:"Arn"`
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
	}
	type response struct {
		XMLName   xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ GetCallerIdentityResponse"`
		Result    result   `xml:"GetCallerIdentityResult"`
		RequestID string   `xml:"ResponseMetadata>RequestId"`
	}
	doc := response{Result: result{Arn: arn, UserID: "AIDAFAKECALLER"}, RequestID: "req-fake"}
	doc.Result.Account = rolearn.Account(arn)
	w.Header().Set("Content-Type", "text/xml")
	_ = xml.NewEncoder(w).Encode(doc)
}

// grant answers an AssumeRole with fake credentials for roleARN.
func grant(w http.ResponseWriter, roleARN, session string) {
	type creds struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		SessionToken    string `xml:"SessionToken"`
		Expiration      string `xml:"Expiration"`
	}
	type doc struct {
		XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleResponse"`
		Result  struct {
			Credentials     creds `xml:"Credentials"`
			AssumedRoleUser struct {
				Arn           string `xml:"Arn"`
				AssumedRoleID string `xml:"AssumedRoleId"`
			} `xml:"AssumedRoleUser"`
		} `xml:"AssumeRoleResult"`
	}
	var d doc
	d.Result.Credentials = creds{AccessKeyID: "ASIAFAKESESSION00001", SecretAccessKey: "fake-secret", SessionToken: "fake-token",
		Expiration: time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}
	arn := roleARN
	if p, err := rolearn.ParsePrincipal(roleARN); err == nil && p.Kind == rolearn.KindRole {
		arn = p.SessionARN(session)
	}
	d.Result.AssumedRoleUser.Arn, d.Result.AssumedRoleUser.AssumedRoleID = arn, "AROAFAKE:"+session
	w.Header().Set("Content-Type", "text/xml")
	_ = xml.NewEncoder(w).Encode(d)
}
