package opsapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/rolecall/rolecall/access"
	"github.com/rolecall/rolecall/internal/opsapi/opsapitest"
)

// verifier is an API Gateway stand-in accepting what opsapitest.Verify
// accepts.
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
	if err := opsapitest.Verify(r, v.creds, v.region); err != nil {
		refuse(err.Error())
		return
	}
	body, _ := io.ReadAll(r.Body)
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
			c, err := New(srv.URL+"/", access.SigV4{Credentials: credentials.StaticCredentialsProvider{Value: tc.client}, Region: tc.region}, nil)
			if err != nil {
				t.Fatal(err)
			}
			// A GET with a query and a POST with a body: both are signed.
			ts, _, errList := c.Tenants(context.Background())
			_, _, errCreate := c.CreateTenant(context.Background(), "acme", "Acme", 0)
			if !tc.ok {
				var e *access.APIError
				if !errors.As(errList, &e) || e.StatusCode != 403 || e.Code != "HTTP_403" {
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
	c, _ := New(srv.URL, access.BearerToken("tok"), nil)
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
}
