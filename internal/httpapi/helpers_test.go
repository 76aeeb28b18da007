package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/tenant"
)

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newTextLog(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// rejection is a request the API must refuse, and the status, code and field
// of its error.
type rejection struct {
	name   string
	r      req
	status int
	code   string
	field  string
}

// wantRefusals sends each request, asserts its error answer, and that
// none of them changed the store.
func (e *env) wantRefusals(t *testing.T, rejections []rejection) {
	t.Helper()
	before := e.mem.Snapshot()
	for _, rf := range rejections {
		t.Run(rf.name, func(t *testing.T) {
			wantAPIError(t, e.do(rf.r), rf.status, rf.code, rf.field)
		})
	}
	if after := e.mem.Snapshot(); after != before {
		t.Errorf("refused requests changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// wantAPIError asserts that w is the JSON error with this status, code
// and field; a 405 names the allowed methods.
func wantAPIError(t *testing.T, w *httptest.ResponseRecorder, status int, code, field string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if got := apiErr(t, w); got.Code != code || got.Field != field {
		t.Fatalf("error %+v, want code %s field %q", got, code, field)
	}
	if status == http.StatusMethodNotAllowed && w.Header().Get("Allow") == "" {
		t.Error("405 without Allow header")
	}
}

// submitted makes the tenant id, submits customerRole with its invite and
// returns the invite's Authorization header.
func (e *env) submitted(t *testing.T, id string) string {
	t.Helper()
	e.tenant(id)
	code := e.invite(id)
	if w := e.do(submitAs(code, customerRole)); w.Code != http.StatusAccepted {
		t.Fatalf("submit: %d %s", w.Code, w.Body)
	}
	return "Invite " + code
}

// submitAs submits roleARN for tenant tn and applies a check result,
// through the service and the lifecycle, as the verifier would.
func (e *env) submitAs(tn tenant.Tenant, roleARN string, results ...connection.Result) connection.Connection {
	e.t.Helper()
	ctx := context.Background()
	c, err := e.svc.Submit(ctx, tn, roleARN)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range results {
		e.now = e.now.Add(connection.DefaultPolicy().PropagationWindow * 2)
		tr, err := e.svc.Policy.Apply(c, connection.Outcome{Result: r, Version: c.Version, ExternalIDVersion: tn.ExternalIDVersion, ExternalIDCurrent: true, CheckedAt: e.now})
		if err != nil {
			e.t.Fatal(err)
		}
		if err := e.mem.Apply(ctx, tr); err != nil {
			e.t.Fatal(err)
		}
		c = tr.After
	}
	return c
}

// jsonKeys returns the keys of the JSON object body, sorted, and the
// object: what a test compares to say which fields an answer shows.
func jsonKeys(t *testing.T, body []byte) ([]string, map[string]any) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	return slices.Sorted(maps.Keys(m)), m
}
