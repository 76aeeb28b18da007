package sigv4_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/rolecall/rolecall/internal/sigv4"
)

var creds = aws.Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "secret", SessionToken: "token"}

const body = "Action=GetCallerIdentity&Version=2011-06-15"

// check sends a request signed by the SDK's signer with signer, after
// change has altered it, to a server that verifies it with creds for sts,
// and returns what the server found.
func check(t *testing.T, signer aws.Credentials, change func(*http.Request)) error {
	t.Helper()
	got := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		sig, err := sigv4.Parse(r)
		if err == nil {
			err = sigv4.Verify(r.Context(), r, b, sig, creds, "sts")
		}
		got <- err
	}))
	t.Cleanup(srv.Close)
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("Amz-Sdk-Invocation-Id", "1")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), signer, req, hex.EncodeToString(sum[:]), "sts", "eu-west-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if change != nil {
		change(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return <-got
}

func TestVerify(t *testing.T) {
	other := creds
	other.SecretAccessKey = "another"
	setAuth := func(f func(string) string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", f(r.Header.Get("Authorization"))) }
	}
	tests := []struct {
		name   string
		signer aws.Credentials
		change func(*http.Request)
		want   error
	}{
		{"signed with the secret", creds, nil, nil},
		{"an unsigned header added", creds, func(r *http.Request) { r.Header.Set("X-Extra", "1") }, nil},
		{"signed with another secret", other, nil, sigv4.ErrMismatch},
		{"a signed header changed", creds, func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }, sigv4.ErrMismatch},
		{"the body changed", creds, func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(strings.Replace(body, "GetCaller", "GetCallex", 1)))
		}, sigv4.ErrMismatch},
		{"another session token", creds, func(r *http.Request) { r.Header.Set("X-Amz-Security-Token", "other") }, sigv4.ErrMismatch},
		{"the session token not signed", creds, setAuth(func(a string) string { return strings.Replace(a, ";x-amz-security-token", "", 1) }), sigv4.ErrMismatch},
		{"scoped to another service", creds, setAuth(func(a string) string { return strings.Replace(a, "/sts/", "/s3/", 1) }), sigv4.ErrMismatch},
		{"scoped to another Region", creds, setAuth(func(a string) string { return strings.Replace(a, "/eu-west-1/", "/us-east-1/", 1) }), sigv4.ErrMismatch},
		{"scoped to another day", creds, setAuth(func(a string) string {
			i := strings.Index(a, "/") + 1
			return a[:i] + "20000101" + a[i+8:]
		}), sigv4.ErrMismatch},
		{"another access key", creds, setAuth(func(a string) string { return strings.Replace(a, creds.AccessKeyID, "ASIAOTHER", 1) }), sigv4.ErrMismatch},
		{"no X-Amz-Date", creds, func(r *http.Request) { r.Header.Del("X-Amz-Date") }, sigv4.ErrIncomplete},
		{"not signed", creds, func(r *http.Request) { r.Header.Del("Authorization") }, sigv4.ErrMissing},
		{"another algorithm", creds, setAuth(func(a string) string { return strings.Replace(a, "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512", 1) }), sigv4.ErrMissing},
		{"a part twice", creds, setAuth(func(a string) string { return a + ", Signature=" + strings.Repeat("0", 64) }), sigv4.ErrIncomplete},
		{"host not signed", creds, setAuth(func(a string) string { return strings.Replace(a, "host;", "", 1) }), sigv4.ErrIncomplete},
		{"signed headers unsorted", creds, setAuth(func(a string) string {
			return strings.Replace(a, "amz-sdk-invocation-id;content-length", "content-length;amz-sdk-invocation-id", 1)
		}), sigv4.ErrIncomplete},
		{"the Authorization header signed", creds, setAuth(func(a string) string {
			return strings.Replace(a, "amz-sdk-invocation-id;", "amz-sdk-invocation-id;authorization;", 1)
		}), sigv4.ErrIncomplete},
		{"a short signature", creds, setAuth(func(a string) string { return a[:len(a)-2] }), sigv4.ErrIncomplete},
		{"no credential scope", creds, setAuth(func(a string) string { return strings.Replace(a, "/aws4_request", "", 1) }), sigv4.ErrIncomplete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := check(t, tt.signer, tt.change)
			if tt.want == nil && err != nil {
				t.Fatalf("Verify = %v, want nil", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestVerifyLeavesTheRequestAsItCame: the copy Verify signs shares nothing
// with the request, so the signature it computes with the real secret
// never lands in the request checked, even for a Signature that lists the
// Authorization header.
func TestVerifyLeavesTheRequestAsItCame(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "http://sts.test/", strings.NewReader(body))
	other := creds
	other.SecretAccessKey = "not the secret"
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), other, r, hex.EncodeToString(sum[:]), "sts", "eu-west-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	sig, err := sigv4.Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	sig.SignedHeaders = []string{"authorization", "host", "x-amz-date", "x-amz-security-token"}
	before := r.Header.Clone()
	if err := sigv4.Verify(context.Background(), r, []byte(body), sig, creds, "sts"); !errors.Is(err, sigv4.ErrMismatch) {
		t.Fatalf("Verify = %v, want ErrMismatch", err)
	}
	if !reflect.DeepEqual(r.Header, before) {
		t.Errorf("Verify changed the request's headers:\n before %v\n after  %v", before, r.Header)
	}
}

func TestCheckTime(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		date  string // X-Amz-Date ("" for none)
		scope string // the credential scope's day
		want  error
	}{
		{"signed now", "20261207T120000Z", "20261207", nil},
		{"signed five minutes ago", "20261207T115500Z", "20261207", nil},
		{"signed five minutes ahead", "20261207T120500Z", "20261207", nil},
		{"signed over five minutes ago", "20261207T115459Z", "20261207", sigv4.ErrExpired},
		{"signed over five minutes ahead", "20261207T120501Z", "20261207", sigv4.ErrExpired},
		{"signed years ago", "20010101T000000Z", "20010101", sigv4.ErrExpired},
		{"the scope of another day", "20261207T120000Z", "20261206", sigv4.ErrMismatch},
		{"no X-Amz-Date", "", "20261207", sigv4.ErrIncomplete},
		{"a malformed X-Amz-Date", "2026-12-07T12:00:00Z", "20261207", sigv4.ErrIncomplete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "http://sts.test/", nil)
			if tt.date != "" {
				r.Header.Set("X-Amz-Date", tt.date)
			}
			err := sigv4.CheckTime(r, sigv4.Signature{Date: tt.scope}, now)
			if (tt.want == nil) != (err == nil) || !errors.Is(err, tt.want) {
				t.Fatalf("CheckTime = %v, want %v", err, tt.want)
			}
		})
	}
	if !errors.Is(sigv4.ErrExpired, sigv4.ErrMismatch) {
		t.Fatal("ErrExpired does not match ErrMismatch (SignatureDoesNotMatch)")
	}
}

// TestMessage: what AWS says of a refusal is its text without the
// sentinel it wraps, and the whole text of an error wrapping none.
func TestMessage(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "http://sts.test/", nil)
	r.Header.Set("X-Amz-Date", "20010101T000000Z")
	expired := sigv4.CheckTime(r, sigv4.Signature{Date: "20010101"}, time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	otherDay := sigv4.CheckTime(r, sigv4.Signature{Date: "20010102"}, time.Now())
	for _, tt := range []struct {
		err  error
		want string
	}{
		{expired, "Signature expired: 20010101T000000Z is now earlier than 20261207T115500Z (20261207T120000Z - 5 min.)"},
		{otherDay, "credential scope date 20010102 is not the day of X-Amz-Date"},
		{errors.New("no sentinel"), "no sentinel"},
	} {
		if got := sigv4.Message(tt.err); got != tt.want {
			t.Errorf("Message(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
