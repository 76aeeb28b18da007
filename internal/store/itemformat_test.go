package store

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/registration"
	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/testkit/golden"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/items.json from the current item types")

const itemsGolden = "testdata/items.json"

// storedItems is one item of every kind the DynamoDB adapter writes, every
// optional attribute set, built as the adapter builds it.
func storedItems() map[string]any {
	at := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)
	tn := tenant.Tenant{ID: "acme", Name: "Acme Corp", ExternalID: "rc-current", ExternalIDVersion: 2, CreatedAt: at,
		RotatedAt: at.Add(time.Hour), MaxConnections: 50, PreviousExternalID: "rc-previous", PreviousExternalIDVersion: 1,
		GraceEndsAt: at.Add(7 * 24 * time.Hour), GraceWrites: 3}
	inv := tenant.Invite{ID: "inv-0123456789abcdef0123456789ab", Hash: "invitehash", TenantID: "acme", CreatedAt: at,
		ExpiresAt: at.Add(24 * time.Hour), Revoked: true}
	conn := connection.Connection{TenantID: "acme", AccountID: "111111111111", RoleARN: "arn:aws:iam::111111111111:role/Deploy",
		Status: connection.Verified, Reason: connection.Reason{Code: "OK", Message: "m", Hint: "h"}, Version: 7,
		ConsecutiveFailures: 1, SubmittedAt: at, UpdatedAt: at.Add(time.Minute), VerifiedAt: at.Add(2 * time.Minute),
		LastCheckedAt: at.Add(3 * time.Minute), NextCheckAt: at.Add(time.Hour), ExternalIDVersion: 2, ExternalIDCurrent: true,
		Candidate: connection.Candidate{RoleARN: "arn:aws:iam::111111111111:role/Next", Status: connection.Pending,
			Reason: connection.Reason{Code: "PENDING", Message: "checking"}, SubmittedAt: at.Add(4 * time.Minute)}}
	ev := sampleEvent(connection.RoleVerified, 7)
	ev.PreviousRoleARN, ev.CandidateRoleARN, ev.ExternalIDCurrent = "arn:aws:iam::111111111111:role/Old", conn.Candidate.RoleARN, true
	_, tok, err := registration.New("acme", at, 0)
	if err != nil {
		panic(err)
	}
	tok.ID, tok.Hash, tok.Revoked, tok.RevokedAt, tok.InviteHash, tok.Via = "rtk-0123456789abcdef0123", "tokenhash", true, at.Add(time.Hour), "invitehash", registration.ViaInvite
	lookup, ref := newRegTokenItems(tok)
	minimal, _ := newRegTokenItems(registration.Token{ID: "rtk-0", TenantID: "acme", Hash: "h", ExpiresAt: at})
	return map[string]any{
		"tenant":              newTenantItem(tn),
		"externalId":          newExternalIDItem(tn),
		"invite":              newInviteItem(inv),
		"inviteRef":           newInviteRefItem(inv),
		"connection":          newConnItem(conn),
		"claim":               newClaimItem(conn),
		"event":               newEventItem(ev),
		"rotationEvent":       newEventItem(connection.RotationStarted(tn)),
		"registrationToken":   lookup,
		"registrationRef":     ref,
		"registrationAnswer":  newAnswerItem("req-1", registration.Answer{Status: "FAILED", Reason: "r", PhysicalResourceID: "p", Data: map[string]string{"k": "v"}, AnsweredAt: at}),
		"connectionMinimal":   newConnItem(connection.Connection{TenantID: "acme", AccountID: "222222222222", Status: connection.Pending, Version: 1}),
		"registrationMinimal": minimal,
		"inviteMinimal":       newInviteItem(tenant.Invite{ID: "inv-0", Hash: "h", TenantID: "acme", CreatedAt: at, ExpiresAt: at}),
	}
}

// TestStoredItemFormat pins the attributes of every item kind to
// testdata/items.json (DynamoDB JSON): the names, types and values written
// must not change, since items already in a table must keep reading back,
// and what the file holds must decode to the same items.
func TestStoredItemFormat(t *testing.T) {
	items := storedItems()
	rendered := map[string]any{}
	for name, it := range items {
		m, err1 := marshal(it)
		b, err2 := attributevalue.MarshalMapJSON(m)
		var v any // re-encoded below with sorted keys, so the rendering is stable
		if err := errors.Join(err1, err2, json.Unmarshal(b, &v)); err != nil {
			t.Fatalf("render %s: %v", name, err)
		}
		rendered[name] = v
	}
	want, err := json.MarshalIndent(rendered, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, itemsGolden, append(want, '\n'), *updateGolden, "is not what the store writes: items already stored would no longer read back "+
		"as written; only if the stored format is meant to change, run go test ./internal/store -run TestStoredItemFormat -update")
	stored := golden.Load[map[string]json.RawMessage](t, itemsGolden)
	for name, it := range items {
		t.Run(name+" reads back", func(t *testing.T) {
			m, err := attributevalue.UnmarshalMapJSON(stored[name])
			back := reflect.New(reflect.TypeOf(it))
			if err := errors.Join(err, attributevalue.UnmarshalMap(m, back.Interface())); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back.Elem().Interface(), it) {
				t.Errorf("stored item reads back as\n%+v\nwant\n%+v", back.Elem().Interface(), it)
			}
		})
	}
}

// TestItemsWithZeroTimesReadBack: items written before zero times were
// left out (testdata/items-zero-times.json, each zero time stored as
// "0001-01-01T00:00:00Z") read back as the same items as today's.
func TestItemsWithZeroTimesReadBack(t *testing.T) {
	old := golden.Load[map[string]json.RawMessage](t, "testdata/items-zero-times.json")
	for name, it := range storedItems() {
		t.Run(name, func(t *testing.T) {
			raw, ok := old[name]
			if !ok {
				t.Skipf("no %s item was stored with zero times", name)
			}
			m, err := attributevalue.UnmarshalMapJSON(raw)
			back := reflect.New(reflect.TypeOf(it))
			if err := errors.Join(err, attributevalue.UnmarshalMap(m, back.Interface())); err != nil {
				t.Fatal(err)
			}
			// Registration tokens were stored with a TTL then; they are
			// kept for good now, and the TTL read back is the only change.
			if tok, ok := back.Interface().(*regTokenItem); ok {
				if tok.TTL == 0 {
					t.Errorf("the old %s item has no TTL: the file is not what was stored", name)
				}
				tok.TTL = 0
			}
			// Tenants were stored before GraceWrites was counted, and before
			// a tenant in a grace carried the due index's keys: absent, they
			// read as 0 and "", the only changes (such a tenant's rotation is
			// completed through its connections, as it was then).
			if tn, ok := back.Interface().(*tenantItem); ok {
				if tn.GraceWrites != 0 || tn.DueShard != "" || tn.DueAt != "" {
					t.Errorf("the old %s item counts grace writes or has due keys: the file is not what was stored", name)
				}
				want := it.(tenantItem)
				tn.GraceWrites, tn.DueShard, tn.DueAt = want.GraceWrites, want.DueShard, want.DueAt
			}
			if !reflect.DeepEqual(back.Elem().Interface(), it) {
				t.Errorf("item with zero times reads back as\n%+v\nwant\n%+v", back.Elem().Interface(), it)
			}
		})
	}
	b, err := os.ReadFile("testdata/items-zero-times.json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"0001-01-01T00:00:00Z"`) {
		t.Fatal("the file holds no zero time: it proves nothing")
	}
}
