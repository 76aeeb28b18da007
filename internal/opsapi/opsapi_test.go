package opsapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

var authRE = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$`)

// verifier is an API Gateway stand-in: it accepts a request only if
// re-signing it, with the SDK's signer, the server's copy of the
// credentials and only the headers the client signed, gives the same
// signature; it checks the scope (region, service) too.
type verifier struct {
	creds  aws.Credentials
	region string
	seen   []string // what the handler saw: method path body
}

func (v *verifier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	refuse := func(why string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `{"message":%q}`, why)
	}
	m := authRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		refuse("Missing Authentication Token")
		return
	}
	if m[1] != v.creds.AccessKeyID || m[3] != v.region || m[4] != "execute-api" {
		refuse("Credential should be scoped correctly")
		return
	}
	if r.Header.Get("X-Amz-Security-Token") != v.creds.SessionToken {
		refuse("The security token included in the request is invalid")
		return
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil || m[2] != at.Format("20060102") {
		refuse("bad X-Amz-Date")
		return
	}
	body, _ := io.ReadAll(r.Body)
	sum := sha256.Sum256(body)
	cp, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	for _, h := range strings.Split(m[5], ";") {
		if h != "host" {
			cp.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	cp.Header.Del("Authorization")
	if err := v4.NewSigner().SignHTTP(context.Background(), v.creds, cp, hex.EncodeToString(sum[:]), "execute-api", v.region, at); err != nil {
		refuse(err.Error())
		return
	}
	if cp.Header.Get("Authorization") != r.Header.Get("Authorization") {
		refuse("The request signature we calculated does not match the signature you provided.")
		return
	}
	v.seen = append(v.seen, r.Method+" "+r.URL.RequestURI()+" "+string(body))
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"tenants":[{"tenantId":"acme","name":"Acme","externalIdVersion":1,"createdAt":"2025-01-02T03:04:05Z"}]}`)
}

func TestSigV4IsVerifiedByReSigning(t *testing.T) {
	server := aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", SessionToken: "session-token-1"}
	tests := []struct {
		name   string
		client aws.Credentials
		region string
		ok     bool
	}{
		{"same credentials and region", server, "eu-west-1", true},
		{"wrong secret", aws.Credentials{AccessKeyID: server.AccessKeyID, SecretAccessKey: "not-the-secret", SessionToken: server.SessionToken}, "eu-west-1", false},
		{"wrong region", server, "us-east-1", false},
		{"no session token", aws.Credentials{AccessKeyID: server.AccessKeyID, SecretAccessKey: server.SecretAccessKey}, "eu-west-1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := &verifier{creds: server, region: "eu-west-1"}
			srv := httptest.NewServer(v)
			defer srv.Close()
			c, err := New(srv.URL+"/", SigV4{Credentials: credentials.StaticCredentialsProvider{Value: tc.client}, Region: tc.region}, nil)
			if err != nil {
				t.Fatal(err)
			}
			// A GET with a query and a POST with a body: both are signed.
			ts, _, errList := c.Tenants(context.Background())
			_, _, errCreate := c.CreateTenant(context.Background(), "acme", "Acme", 0)
			if !tc.ok {
				var e *Error
				if !errors.As(errList, &e) || e.Status != 403 || e.Code != "HTTP_403" {
					t.Fatalf("list: %v, want a 403 refusal", errList)
				}
				if len(v.seen) != 0 {
					t.Errorf("the server accepted %v", v.seen)
				}
				return
			}
			if errList != nil || len(ts) != 1 || ts[0].TenantID != "acme" {
				t.Fatalf("list: %+v %v", ts, errList)
			}
			if errCreate != nil {
				t.Fatalf("create: %v", errCreate)
			}
			want := []string{"GET /v1/tenants?limit=500 ", `POST /v1/tenants {"tenantId":"acme","name":"Acme"}`}
			if fmt.Sprint(v.seen) != fmt.Sprint(want) {
				t.Errorf("seen %q, want %q", v.seen, want)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   Error
	}{
		{"RoleCall error", 409, `{"error":{"code":"TENANT_EXISTS","message":"tenant \"acme\" exists","field":"tenantId"}}`, Error{409, "TENANT_EXISTS", `tenant "acme" exists`, "tenantId"}},
		{"gateway error", 403, `{"message":"Forbidden"}`, Error{403, "HTTP_403", "Forbidden", ""}},
		{"HTML page", 502, "<html>\n<body>Bad   gateway</body></html>", Error{502, "HTTP_502", "Bad Gateway: <html> <body>Bad gateway</body></html>", ""}},
		{"empty", 500, "", Error{500, "HTTP_500", "Internal Server Error", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer tok" {
					t.Errorf("authorization %q", r.Header.Get("Authorization"))
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			c, _ := New(srv.URL, Bearer("tok"), nil)
			_, _, err := c.Tenant(context.Background(), "acme")
			var e *Error
			if !errors.As(err, &e) || *e != tc.want {
				t.Errorf("got %#v, want %#v", err, tc.want)
			}
		})
	}
}

func TestClientRefusesBadAnswersAndURLs(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/tenants/x":
			io.WriteString(w, "not json")
		case "/v1/tenants":
			io.WriteString(w, `{"tenants":[],"cursor":"same"}`) // a cursor that never ends
		}
	}))
	defer srv.Close()
	c, _ := New(srv.URL, Bearer("tok"), nil)
	if _, _, err := c.Tenant(context.Background(), "x"); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Errorf("non-JSON answer: %v", err)
	}
	if _, _, err := c.Tenants(context.Background()); err == nil || !strings.Contains(err.Error(), "cursor twice") {
		t.Errorf("looping cursor: %v", err)
	}
	for _, u := range []string{"", "ftp://h", "http://", "http://h/?q=1", "http://u:p@h"} {
		if _, err := New(u, nil, nil); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
	if err := (SigV4{Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}).Authorize(context.Background(), httptest.NewRequest("GET", "/", nil), ""); err == nil {
		t.Error("SigV4 without a region signed")
	}
}
