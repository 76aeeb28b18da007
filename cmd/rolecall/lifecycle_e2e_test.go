package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestInvitesAndRotationAgainstServe: the invite and rotation commands
// against the real routes of an in-process serve: a tenant's limit, an
// invite's lifetime, listing without codes, revocation (the code then
// gets 401), and a rotation with a grace period that revokes the
// tenant's invites.
func TestInvitesAndRotationAgainstServe(t *testing.T) {
	s := startServe(t)
	var tn struct {
		TenantID          string `json:"tenantId"`
		MaxConnections    int    `json:"maxConnections"`
		ExternalIDVersion int    `json:"externalIdVersion"`
	}
	rolecall(t, "tenants", "create", "acme", "--max-connections", "5", "--json").must(t, 0).json(t, &tn)
	if tn.TenantID != "acme" || tn.MaxConnections != 5 {
		t.Fatalf("create: %+v", tn)
	}

	type invite struct {
		InviteID  string    `json:"inviteId"`
		Code      string    `json:"code"`
		CreatedAt time.Time `json:"createdAt"`
		ExpiresAt time.Time `json:"expiresAt"`
		Revoked   bool      `json:"revoked"`
	}
	var first, second invite
	before := time.Now()
	rolecall(t, "invites", "create", "acme", "--ttl", "2h", "--json").must(t, 0).json(t, &first)
	if first.InviteID == "" || first.Code == "" || first.ExpiresAt.Before(before.Add(2*time.Hour-time.Minute)) || first.ExpiresAt.After(time.Now().Add(2*time.Hour+time.Minute)) {
		t.Fatalf("invites create --ttl 2h: %+v", first)
	}
	rolecall(t, "invites", "create", "acme", "--json").must(t, 0).json(t, &second)
	if d := second.ExpiresAt.Sub(second.CreatedAt); d != 7*24*time.Hour {
		t.Errorf("default invite lifetime %v, want 7 days", d)
	}
	if r := rolecall(t, "invites", "create", "acme", "--ttl", "10m"); r.code != 1 || !strings.Contains(r.stderr, "INVALID_TTL") {
		t.Errorf("a 10-minute invite: exit %d, %s", r.code, r.stderr)
	}

	list := func() map[string]invite {
		t.Helper()
		var page struct {
			Invites []invite `json:"invites"`
		}
		r := rolecall(t, "invites", "list", "acme", "--json").must(t, 0)
		if strings.Contains(r.stdout, first.Code) || strings.Contains(r.stdout, second.Code) || strings.Contains(r.stdout, `"code"`) {
			t.Errorf("the invite list shows a code:\n%s", r.stdout)
		}
		r.json(t, &page)
		out := map[string]invite{}
		for _, inv := range page.Invites {
			out[inv.InviteID] = inv
		}
		return out
	}
	invites := list()
	if len(invites) != 2 || invites[first.InviteID].Revoked || invites[second.InviteID].Revoked {
		t.Fatalf("invites list: %+v", invites)
	}
	table := rolecall(t, "invites", "list", "acme").must(t, 0)
	if !strings.Contains(table.stdout, first.InviteID) || strings.Contains(table.stdout, first.Code) {
		t.Errorf("invites list table:\n%s", table.stdout)
	}

	inviteStatus := func(code string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", s.URL+"/v1/invite", nil)
		req.Header.Set("Authorization", "Invite "+code)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := inviteStatus(first.Code); got != 200 {
		t.Fatalf("a live invite answers %d", got)
	}
	rolecall(t, "invites", "revoke", "acme", first.InviteID).must(t, 0)
	if got := inviteStatus(first.Code); got != 401 {
		t.Errorf("a revoked invite answers %d, want 401", got)
	}
	if !list()[first.InviteID].Revoked {
		t.Error("the revoked invite is not listed as revoked")
	}
	if r := rolecall(t, "invites", "revoke", "acme", "inv-0000000000000000000000000000"); r.code != 1 || !strings.Contains(r.stderr, "NOT_FOUND") {
		t.Errorf("revoke an unknown invite: exit %d, %s", r.code, r.stderr)
	}

	var rotated struct {
		ExternalIDVersion int `json:"externalIdVersion"`
	}
	rolecall(t, "external-id", "rotate", "acme", "--grace", "1h", "--revoke-invites", "--json").must(t, 0).json(t, &rotated)
	if rotated.ExternalIDVersion != 2 {
		t.Errorf("rotate: version %d, want 2", rotated.ExternalIDVersion)
	}
	if got := inviteStatus(second.Code); got != 401 {
		t.Errorf("after rotate --revoke-invites an invite answers %d, want 401", got)
	}
	for id, inv := range list() {
		if !inv.Revoked {
			t.Errorf("invite %s survived rotate --revoke-invites", id)
		}
	}
	if r := rolecall(t, "external-id", "rotate", "acme", "--grace", "800h"); r.code != 1 || !strings.Contains(r.stderr, "INVALID_GRACE") {
		t.Errorf("a 800h grace: exit %d, %s", r.code, r.stderr)
	}
}
