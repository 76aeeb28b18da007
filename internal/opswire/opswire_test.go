package opswire

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
)

var (
	t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	t1 = t0.Add(7 * 24 * time.Hour)
)

func ptr[T any](v T) *T { return &v }

// Each document encodes to exactly the API's JSON (field names, and what
// omitempty/omitzero leave out) and decodes back to itself, so the server
// and the client, which share these types, agree with deployed peers too.
func TestDocumentsRoundTrip(t *testing.T) {
	event := connection.Event{EventID: "ev-1", DetailType: connection.RoleVerified, TenantID: "acme",
		AccountID: "111122223333", RoleARN: "arn:aws:iam::111122223333:role/R", Status: connection.Verified,
		PreviousStatus: connection.Pending, Reason: connection.Reason{Code: "VERIFIED", Message: "ok"}, OccurredAt: t0, Version: 2,
		ExternalIDVersion: 1, ExternalIDCurrent: true}
	eventJSON := `{"eventId":"ev-1","tenantId":"acme","accountId":"111122223333","roleArn":"arn:aws:iam::111122223333:role/R",` +
		`"status":"VERIFIED","previousStatus":"PENDING","reason":{"code":"VERIFIED","message":"ok"},` +
		`"occurredAt":"2026-01-02T03:04:05Z","version":2,"externalIdVersion":1,"externalIdCurrent":true}`
	tests := []struct {
		name string
		doc  any // a pointer to the document
		json string
	}{
		{"tenant", &Tenant{TenantID: "acme", Name: "Acme", ExternalIDVersion: 1, CreatedAt: t0, MaxConnections: 100},
			`{"tenantId":"acme","name":"Acme","externalIdVersion":1,"createdAt":"2026-01-02T03:04:05Z","maxConnections":100}`},
		{"tenant in grace", &Tenant{TenantID: "acme", Name: "Acme", ExternalIDVersion: 2, CreatedAt: t0, RotatedAt: t0,
			MaxConnections: 5, PreviousExternalIDVersion: 1, GraceEndsAt: t1},
			`{"tenantId":"acme","name":"Acme","externalIdVersion":2,"createdAt":"2026-01-02T03:04:05Z","rotatedAt":"2026-01-02T03:04:05Z",` +
				`"maxConnections":5,"previousExternalIdVersion":1,"graceEndsAt":"2026-01-09T03:04:05Z"}`},
		{"create tenant", &CreateTenant{TenantID: "acme", Name: "Acme"}, `{"tenantId":"acme","name":"Acme"}`},
		{"create tenant with a limit", &CreateTenant{TenantID: "acme", Name: "Acme", MaxConnections: ptr(7)},
			`{"tenantId":"acme","name":"Acme","maxConnections":7}`},
		{"update tenant", &UpdateTenant{MaxConnections: ptr(250)}, `{"maxConnections":250}`},
		{"rotate", &Rotate{}, `{}`},
		{"rotate now, revoking invites", &Rotate{GraceSeconds: ptr(int64(0)), RevokeInvites: true}, `{"graceSeconds":0,"revokeInvites":true}`},
		{"create invite", &CreateInvite{}, `{}`},
		{"create invite with a lifetime", &CreateInvite{TTLSeconds: ptr(int64(3600))}, `{"ttlSeconds":3600}`},
		{"invite created", &InviteCreated{InviteID: "inv-1", TenantID: "acme", Code: "c0de", URL: "https://x/connect?invite=c0de", CreatedAt: t0, ExpiresAt: t1},
			`{"inviteId":"inv-1","tenantId":"acme","code":"c0de","url":"https://x/connect?invite=c0de","createdAt":"2026-01-02T03:04:05Z","expiresAt":"2026-01-09T03:04:05Z"}`},
		{"invite", &Invite{InviteID: "inv-1", CreatedAt: t0, ExpiresAt: t1},
			`{"inviteId":"inv-1","createdAt":"2026-01-02T03:04:05Z","expiresAt":"2026-01-09T03:04:05Z","revoked":false}`},
		{"history event", &HistoryEvent{DetailType: "Role Verified", Event: event}, `{"detailType":"Role Verified",` + eventJSON[1:]},
		{"sweep", &Sweep{All: true}, `{"all":true}`},
		{"sweep result", &SweepResult{Enqueued: 3}, `{"enqueued":3}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.json {
				t.Fatalf("encoded\n %s\nwant\n %s", got, tt.json)
			}
			back := reflect.New(reflect.TypeOf(tt.doc).Elem()).Interface()
			if err := json.Unmarshal(got, back); err != nil {
				t.Fatal(err)
			}
			want := tt.doc
			if he, ok := want.(*HistoryEvent); ok {
				// The event's own detail-type is not in its detail: the
				// entry's DetailType carries it.
				cp := *he
				cp.Event.DetailType = ""
				want = &cp
			}
			if !reflect.DeepEqual(back, want) {
				t.Errorf("decoded\n %+v\nwant\n %+v", back, want)
			}
		})
	}
}

// A history is the connection and its events, each with its detail-type,
// oldest first; a tenant event keeps the tenant detail's fields.
func TestConnectionHistory(t *testing.T) {
	h := ConnectionHistory{
		Connection: connection.Connection{TenantID: "acme", AccountID: "111122223333", Status: connection.Pending, SubmittedAt: t0, UpdatedAt: t0},
		Events: []HistoryEvent{
			{DetailType: "Role Submitted", Event: connection.Event{EventID: "ev-1", TenantID: "acme", Status: connection.Pending, OccurredAt: t0, Version: 1}},
			{DetailType: "External ID Rotation Started", Event: connection.Event{EventID: "ev-2", DetailType: connection.ExternalIDRotationStarted,
				TenantID: "acme", ExternalIDVersion: 2, PreviousExternalIDVersion: 1, GraceEndsAt: t1, OccurredAt: t0, Version: 2}},
		},
	}
	raw, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Connection map[string]any   `json:"connection"`
		Events     []map[string]any `json:"events"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Connection["tenantId"] != "acme" || doc.Connection["status"] != "PENDING" || len(doc.Events) != 2 {
		t.Fatalf("history %s", raw)
	}
	if e := doc.Events[0]; e["detailType"] != "Role Submitted" || e["eventId"] != "ev-1" || e["status"] != "PENDING" {
		t.Errorf("first event %v", e)
	}
	if e := doc.Events[1]; e["detailType"] != "External ID Rotation Started" || e["graceEndsAt"] != "2026-01-09T03:04:05Z" || e["status"] != nil {
		t.Errorf("rotation event %v (a tenant event carries no connection status)", e)
	}
	var back ConnectionHistory
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.Connection != h.Connection || len(back.Events) != 2 || back.Events[1].DetailType != "External ID Rotation Started" || back.Events[1].GraceEndsAt != t1 {
		t.Errorf("decoded %+v", back)
	}
}
