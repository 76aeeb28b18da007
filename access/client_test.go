package access

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/rolecall/rolecall/internal/truncate"
)

// TestDoDecodesRefusals: every error answer becomes a typed error that
// keeps the status; answers that are not RoleCall's JSON errors get the
// code HTTP_<status> and a short excerpt.
func TestDoDecodesRefusals(t *testing.T) {
	long := strings.Repeat("é", 150) // 300 bytes: cut on a character boundary
	tests := []struct {
		name   string
		status int
		body   string
		want   error
	}{
		{"RoleCall error", 409, `{"error":{"code":"TENANT_EXISTS","message":"tenant \"acme\" exists","field":"tenantId"}}`,
			&APIError{StatusCode: 409, Code: "TENANT_EXISTS", Message: `tenant "acme" exists`, Field: "tenantId"}},
		{"RoleCall error with terminal escapes and a long hint", 400,
			`{"error":{"code":"BAD\u001b[2J","message":"no\u001b]0;owned\u0007 role\u202e\nsecond line","field":"role\rArn","hint":"` + strings.Repeat("h", 5000) + `"}}`,
			&APIError{StatusCode: 400, Code: "BAD[2J", Message: "no]0;owned role\nsecond line", Field: "roleArn", Hint: truncate.String(strings.Repeat("h", 5000), 1000)}},
		{"RoleCall error with a hint", 400, `{"error":{"code":"INVALID_ARN","message":"not a role ARN","field":"roleArn","hint":"paste the role's ARN"}}`,
			&APIError{StatusCode: 400, Code: "INVALID_ARN", Message: "not a role ARN", Field: "roleArn", Hint: "paste the role's ARN"}},
		{"gateway error", 403, `{"message":"Forbidden"}`, &APIError{StatusCode: 403, Code: "HTTP_403", Message: "Forbidden"}},
		{"gateway signature mismatch", 403, `{"message":"The request signature we calculated does not match the signature you provided.\n\nThe Canonical String for this request should have been\n'GET\n/v1/tenants/acme\n\nx-amz-security-token:FwoGZXIvYXdzSESSION\n'\n"}`,
			&APIError{StatusCode: 403, Code: "HTTP_403", Message: "The request signature we calculated does not match the signature you provided."}},
		{"HTML page", 502, "<html>\n<body>Bad   gateway</body></html>", &APIError{StatusCode: 502, Code: "HTTP_502", Message: "Bad Gateway: <html> <body>Bad gateway</body></html>"}},
		{"long page", 500, long, &APIError{StatusCode: 500, Code: "HTTP_500", Message: "Internal Server Error: " + strings.Repeat("é", 100) + "…"}},
		{"empty", 500, "", &APIError{StatusCode: 500, Code: "HTTP_500", Message: "Internal Server Error"}},
		{"not verified", 409, `{"error":{"code":"NOT_VERIFIED","message":"no"},"connection":{"status":"FAILED","reason":{"code":"ASSUME_DENIED","message":"denied"}}}`,
			&NotVerifiedError{Status: "FAILED", Reason: Reason{Code: "ASSUME_DENIED", Message: "denied"}}},
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
			api := &API{BaseURL: srv.URL, Auth: BearerToken("tok")}
			_, err := api.Do(context.Background(), http.MethodGet, "/v1/tenants/acme", nil, nil)
			switch want := tc.want.(type) {
			case *APIError:
				var got *APIError
				if !errors.As(err, &got) || *got != *want {
					t.Errorf("got %#v, want %#v", err, want)
				}
			case *NotVerifiedError:
				var got *NotVerifiedError
				if !errors.As(err, &got) || *got != *want {
					t.Errorf("got %#v, want %#v", err, want)
				}
			}
		})
	}
}

// TestDoSendsAndReturns: the request Do sends (method, path, query,
// JSON body and headers) and what it makes of 2xx answers.
func TestDoSendsAndReturns(t *testing.T) {
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen = append(seen, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Content-Type")+" "+r.Header.Get("Accept")+" "+string(b))
		switch r.URL.Path {
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/text":
			io.WriteString(w, "not json")
		case "/huge":
			w.Write([]byte(`"`))
			w.Write([]byte(strings.Repeat("a", maxAnswer)))
			w.Write([]byte(`"`))
		default:
			io.WriteString(w, `{"ok":true}`)
		}
	}))
	defer srv.Close()
	api := &API{BaseURL: srv.URL + "/"}
	ctx := context.Background()
	tests := []struct {
		name    string
		method  string
		path    string
		query   url.Values
		in      any
		want    string // the answer, or the error's text
		wantErr bool
		sent    string
	}{
		{"GET with a query", "GET", "/v1/tenants", url.Values{"limit": {"5"}, "cursor": {"a b"}}, nil, `{"ok":true}`, false,
			"GET /v1/tenants?cursor=a+b&limit=5  application/json "},
		{"POST with a body", "POST", "/v1/tenants", nil, map[string]string{"tenantId": "acme"}, `{"ok":true}`, false,
			`POST /v1/tenants application/json application/json {"tenantId":"acme"}`},
		{"empty answer", "DELETE", "/empty", nil, nil, `{}`, false, "DELETE /empty  application/json "},
		{"not JSON", "GET", "/text", nil, nil, "is not JSON", true, "GET /text  application/json "},
		{"too long", "GET", "/huge", nil, nil, "exceeds", true, "GET /huge  application/json "},
		{"unencodable body", "POST", "/never", nil, func() {}, "encode the request", true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seen = nil
			raw, err := api.Do(ctx, tc.method, tc.path, tc.query, tc.in)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %v, want one saying %q", err, tc.want)
				}
			} else if err != nil || string(raw) != tc.want {
				t.Errorf("answer %s %v, want %s", raw, err, tc.want)
			}
			if got := strings.Join(seen, "\n"); got != tc.sent {
				t.Errorf("sent %q, want %q", got, tc.sent)
			}
		})
	}
}

// TestDoRefusesWhatItCannotSend: no URL, an unusable authorizer, an
// unreachable server: an error, and nothing sent.
func TestDoRefusesWhatItCannotSend(t *testing.T) {
	ctx := context.Background()
	creds := credentials.NewStaticCredentialsProvider("AKIAOPS0000000000001", "s", "")
	tests := []struct {
		name string
		api  *API
		want string
	}{
		{"no URL", &API{}, "no RoleCall API URL"},
		{"empty token", &API{BaseURL: "http://127.0.0.1:1", Auth: BearerToken("")}, "ops token is empty"},
		{"SigV4 without credentials", &API{BaseURL: "http://127.0.0.1:1", Auth: SigV4{Region: "eu-west-1"}}, "no AWS credentials"},
		{"SigV4 without a region", &API{BaseURL: "http://127.0.0.1:1", Auth: SigV4{Credentials: creds}}, "no region"},
		{"bad URL", &API{BaseURL: "http://[::1"}, "request"},
		{"unreachable", &API{BaseURL: "http://127.0.0.1:1"}, "GET /v1/tenants"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.api.Do(ctx, "GET", "/v1/tenants", nil, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestAPIErrorNamesTheField(t *testing.T) {
	e := &APIError{StatusCode: 400, Code: "INVALID_ARN", Message: "not a role ARN", Field: "roleArn"}
	if got, want := e.Error(), "rolecall API: 400 INVALID_ARN: not a role ARN (field roleArn)"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

// TestListingsFollowCursors: AllConnections and Verified follow the
// cursors to the last page; a cursor answered twice, a malformed page or
// a refusal mid-way is an error, never a partial listing.
func TestListingsFollowCursors(t *testing.T) {
	conn := func(digit string) string {
		return `{"tenantId":"acme","accountId":"` + strings.Repeat(digit, 12) + `","status":"VERIFIED"}`
	}
	tests := []struct {
		name    string
		pages   map[string]string // "path?query" -> answer
		want    string            // the accounts listed, or the error's text
		wantErr bool
	}{
		{"two pages", map[string]string{
			"/v1/tenants/acme/access":           `{"connections":[` + conn("1") + `],"cursor":"p2"}`,
			"/v1/tenants/acme/access?cursor=p2": `{"connections":[` + conn("2") + `]}`,
		}, "111111111111 222222222222", false},
		{"a cursor twice", map[string]string{
			"/v1/tenants/acme/access":           `{"connections":[` + conn("1") + `],"cursor":"p2"}`,
			"/v1/tenants/acme/access?cursor=p2": `{"connections":[` + conn("2") + `],"cursor":"p2"}`,
		}, "cursor twice", true},
		{"a malformed page", map[string]string{"/v1/tenants/acme/access": `{"connections":{}}`}, "malformed page", true},
		// IDs end up in AWS config files and HCL: a newline would add lines.
		{"a tenant ID with a newline", map[string]string{"/v1/tenants/acme/access": `{"connections":[{"tenantId":"x]\n[profile prod","accountId":"111111111111"}]}`},
			`"x]\n[profile prod"/"111111111111" is not a tenant ID`, true},
		{"an account ID that is not 12 digits", map[string]string{"/v1/tenants/acme/access": `{"connections":[` + conn("1") + `,{"tenantId":"acme","accountId":"1111"}]}`},
			`"acme"/"1111" is not`, true},
		{"a refusal on the second page", map[string]string{"/v1/tenants/acme/access": `{"connections":[],"cursor":"gone"}`}, "NOT_FOUND", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// Verified's listing is the same pages under another path.
				key := strings.Replace(r.URL.Path, "/v1/connections", "/v1/tenants/acme/access", 1)
				q := r.URL.Query()
				if r.URL.Path == "/v1/connections" && q.Get("status") != "VERIFIED" {
					t.Errorf("Verified asked for %s", r.URL.RequestURI())
				}
				if c := q.Get("cursor"); c != "" {
					key += "?cursor=" + c
				}
				answer, ok := tc.pages[key]
				if !ok {
					w.WriteHeader(http.StatusNotFound)
					io.WriteString(w, `{"error":{"code":"NOT_FOUND","message":"no such page"}}`)
					return
				}
				io.WriteString(w, answer)
			}))
			defer srv.Close()
			api := &API{BaseURL: srv.URL}
			conns, err := api.AllConnections(context.Background(), "acme")
			refs, errRefs := api.Verified(context.Background())
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), tc.want) || errRefs == nil || !strings.Contains(errRefs.Error(), tc.want) {
					t.Fatalf("errors %v and %v, want both saying %q", err, errRefs, tc.want)
				}
				if conns != nil || refs != nil {
					t.Errorf("partial listings %v %v", conns, refs)
				}
				return
			}
			if err != nil || errRefs != nil {
				t.Fatalf("errors %v, %v", err, errRefs)
			}
			var got, gotRefs []string
			for _, c := range conns {
				got = append(got, c.AccountID)
			}
			for _, r := range refs {
				gotRefs = append(gotRefs, r.AccountID)
			}
			if strings.Join(got, " ") != tc.want || strings.Join(gotRefs, " ") != tc.want {
				t.Errorf("listed %v and %v, want %s", got, gotRefs, tc.want)
			}
		})
	}
}

// TestConnectionRefusesAnAnswerForAnother: an answer that names another
// connection than the one asked for is an error, never handed out.
func TestConnectionRefusesAnAnswerForAnother(t *testing.T) {
	tests := []struct{ name, answer, wantErr string }{
		{"the one asked for", `{"tenantId":"acme","accountId":"111111111111","status":"VERIFIED"}`, ""},
		{"another account", `{"tenantId":"acme","accountId":"222222222222","status":"VERIFIED"}`, `asked for "acme"/"111111111111", answered "acme"/"222222222222"`},
		{"another tenant", `{"tenantId":"acme\n","accountId":"111111111111","status":"VERIFIED"}`, `answered "acme\n"/"111111111111"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, tc.answer)
			}))
			defer srv.Close()
			c, err := (&API{BaseURL: srv.URL}).Connection(context.Background(), "acme", "111111111111")
			switch {
			case tc.wantErr == "" && (err != nil || c.AccountID != "111111111111"):
				t.Errorf("got %v, %v", c, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || c != Connection{}):
				t.Errorf("got %v, %v; want an error saying %s", c, err, tc.wantErr)
			}
		})
	}
}

// TestTenantListingRefusesAnotherTenant: a tenant's listing that holds
// another tenant's connection is an error, never a partial listing; the
// listing of every tenant holds each tenant's.
func TestTenantListingRefusesAnotherTenant(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"connections":[{"tenantId":"acme","accountId":"111111111111"},{"tenantId":"globex","accountId":"222222222222"}]}`)
	}))
	defer srv.Close()
	api := &API{BaseURL: srv.URL}
	want := `"globex"/"222222222222" in the listing of tenant "acme"`
	conns, err := api.AllConnections(context.Background(), "acme")
	if err == nil || !strings.Contains(err.Error(), want) || conns != nil {
		t.Errorf("AllConnections: %v, %v; want an error saying %s", conns, err, want)
	}
	if page, err := api.Connections(context.Background(), "acme", "", 0); err == nil || !strings.Contains(err.Error(), want) || page.Connections != nil {
		t.Errorf("Connections: %v, %v; want an error saying %s", page, err, want)
	}
	if refs, err := api.Verified(context.Background()); err != nil || len(refs) != 2 {
		t.Errorf("Verified: %v, %v", refs, err)
	}
}

// TestDoFollowsNoRedirect: RoleCall's API never redirects. A 3xx answer is
// refused with its status, never followed: following it would replay a
// POST or DELETE as a GET whose answer looks like success, and send the
// SigV4 session token (which Go keeps on a redirect to another host) to
// wherever the redirect points; a caller's client that follows redirects
// does not either.
func TestDoFollowsNoRedirect(t *testing.T) {
	var reached []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached = append(reached, r.Method+" "+r.Header.Get("X-Amz-Security-Token"))
		io.WriteString(w, `{"tenants":[]}`)
	}))
	defer other.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusFound)
	}))
	defer api.Close()
	signer := SigV4{Credentials: credentials.NewStaticCredentialsProvider("AKIAEXAMPLE", "secret", "session-token"), Region: "eu-west-1"}
	for _, hc := range []*http.Client{nil, {}} {
		for _, method := range []string{http.MethodPost, http.MethodDelete, http.MethodGet} {
			a := &API{BaseURL: api.URL, Auth: signer, HTTPClient: hc}
			_, err := a.Do(context.Background(), method, "/v1/tenants", nil, map[string]string{"tenantId": "acme"})
			var ae *APIError
			if !errors.As(err, &ae) || ae.StatusCode != http.StatusFound || ae.Code != "HTTP_302" {
				t.Errorf("%s (client %v): %v, want the 302 refused", method, hc, err)
			}
		}
	}
	if len(reached) != 0 {
		t.Errorf("the redirect was followed: %v", reached)
	}
}

// TestNotVerifiedReasonIsPrintable: a NOT_VERIFIED refusal's connection
// reason (status, code, message, hint) reaches terminals and logs through
// NotVerifiedError.Error(), as the other refusals' texts do: it is kept
// free of control characters.
func TestNotVerifiedReasonIsPrintable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusConflict)
		io.WriteString(w, `{"error":{"code":"NOT_VERIFIED","message":"no"},"connection":{"status":"FAILED\u001b[2J","reason":{"code":"ASSUME_DENIED","message":"denied\u001b]0;owned\u0007","hint":"fix\u001b[31m it"}}}`)
	}))
	defer srv.Close()
	api := &API{BaseURL: srv.URL, Auth: BearerToken("tok")}
	_, err := api.Do(context.Background(), http.MethodGet, "/v1/connections/acme/111122223333", nil, nil)
	var nv *NotVerifiedError
	if !errors.As(err, &nv) {
		t.Fatalf("err %v, want *NotVerifiedError", err)
	}
	for _, s := range []string{nv.Error(), nv.Status, nv.Reason.Message, nv.Reason.Hint} {
		if strings.ContainsAny(s, "\x1b\x07") {
			t.Errorf("control characters kept: %q", s)
		}
	}
}
