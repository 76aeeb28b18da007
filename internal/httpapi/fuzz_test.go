package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rolecall/rolecall/internal/opswire"
	"github.com/rolecall/rolecall/internal/refusal"
	"github.com/rolecall/rolecall/internal/tenant"
)

// fuzzRoute is a route that decodes a request body.
type fuzzRoute struct {
	method, path string
	customer     bool       // Invite auth, else ops
	optional     bool       // an empty body is accepted
	dst          func() any // the request type the handler decodes into
}

var fuzzRoutes = []fuzzRoute{
	{"POST", "/v1/connections", true, false, func() any { return &submitRequest{} }},
	{"POST", "/v1/tenants", false, false, func() any { return &opswire.CreateTenant{} }},
	{"POST", "/v1/tenants/acme/invites", false, true, func() any { return &opswire.CreateInvite{} }},
	{"POST", "/v1/tenants/acme/external-id/rotate", false, true, func() any { return &opswire.Rotate{} }},
	{"POST", "/v1/sweeps", false, true, func() any { return &opswire.Sweep{} }},
	{"POST", "/v1/tenants/acme/connections/444455556666/check", false, true, func() any { return &struct{}{} }},
	{"PUT", "/_sandbox/roles", false, false, func() any { return &putRoleRequest{} }},
	{"PUT", "/_sandbox/faults", false, false, func() any { return &faultsRequest{} }},
	{"POST", "/v1/connections/444455556666/check", true, true, func() any { return &struct{}{} }},
}

// FuzzAPIRequest sends arbitrary bodies with arbitrary content types to
// every route that decodes a body, authenticated, and checks:
//
//   - nothing panics and nothing is a 5xx;
//
//   - a refusal is a 4xx JSON error with a code and a message, the one the
//     strict decoder gave when the body was at fault, and it leaves the
//     store and the queue exactly as they were;
//
//   - a body the decoder accepts round-trips: encoded again, it decodes
//     to the same request;
//
//   - an accepted submission round-trips too: the connection the API
//     returns is the one GET /v1/connections/{accountId} reads, and
//     submitting its role again changes nothing.
//
//     go test ./internal/httpapi -run '^$' -fuzz '^FuzzAPIRequest$' -fuzztime 60s
func FuzzAPIRequest(f *testing.F) {
	seeds := []struct {
		route int
		ctype string
		body  string
	}{
		{0, "application/json", `{"roleArn":"` + customerRole + `"}`},
		{1, "application/json", `{"tenantId":"beta","name":"Beta","maxConnections":5}`},
		{1, "application/json", `{"tenantId":"beta","name":"Beta","maxConnections":0}`},
		{2, "application/json", `{"ttlSeconds":3600}`},
		{2, "application/json", `{"ttlSeconds":59}`},
		{3, "application/json", `{"revokeInvites":true}`},
		{0, "application/json; charset=utf-8", `{"roleArn":"arn:aws:iam::111122223333:role/a/b/RoleCall"}`},
		{0, "application/json", `{"roleArn":"arn:aws:iam::999988887777:role/Own"}`},
		{0, "application/json", `{"roleArn":"arn:aws:sts::111122223333:assumed-role/R/s"}`},
		{0, "application/json", `{"roleArn":"arn:aws:iam::111122223333:role/Role\u200b"}`},
		{0, "application/json", `{"roleArn":"arn:aws:iam::111122223333:role/x","roleArn":"y"}`},
		{0, "application/json", `{"RoleArn":"` + customerRole + `"}`},
		{0, "text/plain", `{"roleArn":"` + customerRole + `"}`},
		{0, "application/json", `{"roleArn":1}`},
		{0, "application/json", `["roleArn"]`},
		{0, "application/json", `{"roleArn":"` + customerRole + `"} {}`},
		{0, "", ``},
		{1, "application/json", `{"tenantId":"bravo","name":"Bravo"}`},
		{1, "application/json", `{"tenantId":"../etc","name":"x"}`},
		{2, "", ``},
		{2, "application/json", `{}`},
		{2, "application/json", `{"x":1}`},
		{3, "application/json; charset=latin1", `{}`},
		{3, "application/json", `{"graceSeconds":3600}`},
		{3, "application/json", `{"graceSeconds":-5}`},
		{3, "application/json", `{"graceSeconds":0}`},
		{4, "application/json", `{"all":true}`},
		{4, "application/json", `{"all":"yes"}`},
		{5, "", ``},
		{6, "application/json", `{"roleArn":"` + customerRole + `","trustPolicy":{"Version":"2012-10-17","Statement":[]}}`},
		{6, "application/json", `{"roleArn":"x","trustPolicy":{"a":{"a":{"a":{"a":[[[[{}]]]]}}}}}`},
		{7, "application/json", `{"latencyMs":50,"throttleRate":0.2,"errorRate":0.05}`},
		{8, "", ``},
		{8, "application/json", `{"now":true}`},
		{7, "application/json", `{"latencyMs":1e400}`},
		{7, "application/json", "{\"latencyMs\":5}\xff"},
	}
	for _, s := range seeds {
		f.Add(uint8(s.route), s.ctype, []byte(s.body))
	}

	f.Fuzz(func(t *testing.T, route uint8, ctype string, body []byte) {
		// A fresh handler and store each time, so that every input runs
		// alone and reproduces (0.4 ms).
		e := newEnv(t)
		e.tenant("acme")
		code := e.invite("acme")
		if _, err := e.svc.Submit(t.Context(), e.mustTenant("acme"), customerRole2); err != nil { // for the check route
			t.Fatal(err)
		}
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		newReq := func(ct string, b []byte) *http.Request {
			r := httptest.NewRequest(rt.method, rt.path, bytes.NewReader(b))
			if ct != "" {
				r.Header.Set("Content-Type", ct)
			}
			if rt.customer {
				r.Header.Set("Authorization", "Invite "+code)
			} else {
				r.Header.Set("Authorization", "Bearer "+testToken)
			}
			return r
		}

		// The decoder alone: a refusal is a 4xx with a code; an accepted
		// body round-trips.
		dst := rt.dst()
		r := newReq(ctype, body)
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, MaxBody)
		decodeErr := decodeBody(r, dst, rt.optional)
		ae := refusal.As(decodeErr)
		if decodeErr != nil {
			if ae == nil || statusOf(ae.Code) < 400 || statusOf(ae.Code) > 499 || ae.Code == "" || ae.Message == "" {
				t.Fatalf("decode error %#v is not a 4xx with a code", decodeErr)
			}
		} else {
			enc, err := json.Marshal(dst)
			if err != nil {
				t.Fatalf("re-encode %#v: %v", dst, err)
			}
			again := rt.dst()
			if err := decodeBody(newReq("application/json", enc), again, rt.optional); err != nil {
				t.Fatalf("re-encoded body %s refused: %v", enc, err)
			}
			if enc2, _ := json.Marshal(again); !bytes.Equal(enc, enc2) {
				t.Fatalf("round trip changed the request: %s then %s", enc, enc2)
			}
		}

		// The whole handler.
		before, jobs := e.mem.Snapshot(), e.queued()
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, newReq(ctype, body))
		if w.Code >= 500 {
			t.Fatalf("%s %s %q %q: %d %s", rt.method, rt.path, ctype, body, w.Code, w.Body)
		}
		if w.Code >= 400 {
			got := apiErr(t, w)
			if ae != nil && (got.Code != ae.Code || w.Code != statusOf(ae.Code)) {
				t.Fatalf("handler answered %d %s, the decoder refused with %d %s", w.Code, got.Code, statusOf(ae.Code), ae.Code)
			}
			if after := e.mem.Snapshot(); after != before || e.queued() != jobs {
				t.Fatalf("a refused request (%d %s) changed the state:\n%s\n---\n%s", w.Code, got.Code, before, after)
			}
			return
		}
		if decodeErr != nil {
			t.Fatalf("handler accepted (%d) a body the decoder refused: %v", w.Code, decodeErr)
		}
		if route := int(route) % len(fuzzRoutes); route != 0 {
			return
		}
		var c struct {
			AccountID string `json:"accountId"`
			RoleARN   string `json:"roleArn"`
			Status    string `json:"status"`
			Version   int64  `json:"version"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &c); err != nil || c.AccountID == "" || c.Version < 1 {
			t.Fatalf("submission answered %d %s (%v)", w.Code, w.Body, err)
		}
		get := e.do(req{method: "GET", path: "/v1/connections/" + c.AccountID, auth: "Invite " + code})
		if get.Code != 200 || !bytes.Equal(get.Body.Bytes(), w.Body.Bytes()) {
			t.Fatalf("GET answered %d %s, the submission %s", get.Code, get.Body, w.Body)
		}
		if c.Status == "PENDING" || c.Status == "VERIFIED" {
			b, _ := json.Marshal(submitRequest{RoleARN: c.RoleARN})
			before := e.mem.Snapshot()
			again := e.do(req{method: "POST", path: "/v1/connections", body: string(b), auth: "Invite " + code})
			if again.Code != 202 || !bytes.Equal(again.Body.Bytes(), w.Body.Bytes()) || e.mem.Snapshot() != before {
				t.Fatalf("resubmitting %s answered %d %s and changed the state", c.RoleARN, again.Code, again.Body)
			}
		}
	})
}

func (e *env) mustTenant(id string) tenant.Tenant {
	e.t.Helper()
	t, err := e.svc.Tenant(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return t
}

// queued is how many jobs the queue holds.
func (e *env) queued() int {
	return len(e.queue.Jobs())
}
