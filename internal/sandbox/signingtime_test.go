package sandbox_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// TestSigningTimeIsChecked: a request reaches STS within five minutes of
// its signing time or is refused (SignatureDoesNotMatch, "Signature
// expired" or "not yet current"), and its credential scope names the day
// of its X-Amz-Date, whoever signed it: a request replayed later, or
// signed with a clock far off, is refused.
func TestSigningTimeIsChecked(t *testing.T) {
	endpoint, base, issue := sigWorld(t)
	verifier, err := base.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s := issue("session-a")
	session := aws.Credentials{AccessKeyID: aws.ToString(s.AccessKeyId), SecretAccessKey: aws.ToString(s.SecretAccessKey), SessionToken: aws.ToString(s.SessionToken)}
	now := time.Now()
	const body = "Action=GetCallerIdentity&Version=2011-06-15"
	tests := []struct {
		name      string
		at        time.Duration // signing time, from now
		change    func(*http.Request)
		wantCode  string // "" for served
		wantInMsg string
	}{
		{"signed now", 0, nil, "", ""},
		{"signed four minutes ago", -4 * time.Minute, nil, "", ""},
		{"signed four minutes ahead", 4 * time.Minute, nil, "", ""},
		{"signed six minutes ago", -6 * time.Minute, nil, "SignatureDoesNotMatch", "Signature expired"},
		{"signed six minutes ahead", 6 * time.Minute, nil, "SignatureDoesNotMatch", "Signature not yet current"},
		{"signed years ago", -20 * 365 * 24 * time.Hour, nil, "SignatureDoesNotMatch", "Signature expired"},
		{"without X-Amz-Date", 0, func(r *http.Request) { r.Header.Del("X-Amz-Date") }, "IncompleteSignature", ""},
		{"scoped to another day", 0, func(r *http.Request) {
			a := r.Header.Get("Authorization")
			i := strings.Index(a, "Credential=") + len("Credential=")
			i += strings.Index(a[i:], "/") + 1
			r.Header.Set("Authorization", a[:i]+"20000101"+a[i+8:])
		}, "SignatureDoesNotMatch", "20000101"},
	}
	for _, who := range []struct {
		name  string
		creds aws.Credentials
	}{{"configured caller", verifier}, {"issued session", session}} {
		for _, tt := range tests {
			t.Run(who.name+"/"+tt.name, func(t *testing.T) {
				r, _ := http.NewRequest(http.MethodPost, endpoint+"/", strings.NewReader(body))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
				sum := sha256.Sum256([]byte(body))
				if err := v4.NewSigner().SignHTTP(context.Background(), who.creds, r, hex.EncodeToString(sum[:]), "sts", "us-east-1", now.Add(tt.at)); err != nil {
					t.Fatal(err)
				}
				if tt.change != nil {
					tt.change(r)
				}
				code, msg := stsAnswer(t, r)
				if code != tt.wantCode || !strings.Contains(msg, tt.wantInMsg) {
					t.Fatalf("answered %q %q, want %q with %q", code, msg, tt.wantCode, tt.wantInMsg)
				}
			})
		}
	}

}

// stsAnswer sends r and returns the error code and message STS answered
// ("" for a success).
func stsAnswer(t *testing.T, r *http.Request) (code, msg string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return "", ""
	}
	var doc stsError
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("HTTP %d, not an STS error document: %s", resp.StatusCode, b)
	}
	return doc.Code, doc.Message
}
