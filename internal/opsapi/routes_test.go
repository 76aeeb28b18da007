package opsapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/access"
	"github.com/rolecall/rolecall/internal/connection"
)

// scripted answers each "METHOD /path?query" with a canned body and
// records "METHOD /path?query body" for every request.
type scripted struct {
	answers map[string]string
	seen    []string
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	key := r.Method + " " + r.URL.RequestURI()
	s.seen = append(s.seen, strings.TrimSpace(key+" "+string(b)))
	answer, ok := s.answers[key]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error":{"code":"NOT_FOUND","message":"no route %s"}}`, key)
		return
	}
	io.WriteString(w, answer)
}

const (
	tenantJSON = `{"tenantId":"acme","name":"Acme","externalId":"rc-x","externalIdVersion":2,"createdAt":"2025-01-02T03:04:05Z"}`
	connJSON   = `{"tenantId":"acme","accountId":"444455556666","roleArn":"arn:aws:iam::444455556666:role/R","status":"VERIFIED","version":3}`
)

// TestRoutes: each route sends the request the API serves and decodes
// its answer.
func TestRoutes(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		answers map[string]string
		call    func(*Client) (string, error) // a summary of what was decoded
		want    string
		sent    []string
	}{
		{"create tenant", map[string]string{"POST /v1/tenants": tenantJSON},
			func(c *Client) (string, error) {
				t, _, err := c.CreateTenant(ctx, "acme", "Acme", 7)
				return t.TenantID + " " + t.ExternalID, err
			}, "acme rc-x", []string{`POST /v1/tenants {"tenantId":"acme","name":"Acme","maxConnections":7}`}},
		{"tenants over two pages", map[string]string{
			"GET /v1/tenants?limit=500":           `{"tenants":[` + tenantJSON + `],"cursor":"c1"}`,
			"GET /v1/tenants?cursor=c1&limit=500": `{"tenants":[{"tenantId":"beta","name":"Beta","externalIdVersion":1,"createdAt":"2025-01-02T03:04:05Z"}]}`},
			func(c *Client) (string, error) {
				ts, raws, err := c.Tenants(ctx)
				return words(len(ts), len(raws), ts[0].TenantID, ts[1].TenantID), err
			}, "2 2 acme beta", []string{"GET /v1/tenants?limit=500", "GET /v1/tenants?cursor=c1&limit=500"}},
		{"tenant", map[string]string{"GET /v1/tenants/a%2Fb": tenantJSON},
			func(c *Client) (string, error) {
				t, _, err := c.Tenant(ctx, "a/b")
				return t.Name, err
			}, "Acme", []string{"GET /v1/tenants/a%2Fb"}},
		{"set the connection limit", map[string]string{"PATCH /v1/tenants/a%2Fb": `{"tenantId":"a/b","name":"Acme","externalIdVersion":1,"maxConnections":250,"createdAt":"2025-01-02T03:04:05Z"}`},
			func(c *Client) (string, error) {
				t, _, err := c.SetMaxConnections(ctx, "a/b", 250)
				return words(t.TenantID, t.MaxConnections), err
			}, "a/b 250", []string{`PATCH /v1/tenants/a%2Fb {"maxConnections":250}`}},
		{"create invite with a TTL", map[string]string{"POST /v1/tenants/acme/invites": `{"inviteId":"i1","code":"secret","expiresAt":"2025-01-09T03:04:05Z"}`},
			func(c *Client) (string, error) {
				v, _, err := c.CreateInvite(ctx, "acme", 2*time.Hour)
				return v.InviteID + " " + v.Code + " " + v.ExpiresAt.Format(time.DateOnly), err
			}, "i1 secret 2025-01-09", []string{`POST /v1/tenants/acme/invites {"ttlSeconds":7200}`}},
		{"create invite with the default TTL", map[string]string{"POST /v1/tenants/acme/invites": `{"code":"secret","expiresAt":"2025-01-09T03:04:05Z"}`},
			func(c *Client) (string, error) {
				v, _, err := c.CreateInvite(ctx, "acme", 0)
				return v.Code, err
			}, "secret", []string{"POST /v1/tenants/acme/invites"}},
		{"invites as pages", map[string]string{
			"GET /v1/tenants/acme/invites":          `{"invites":[{"inviteId":"i1"}],"cursor":"n"}`,
			"GET /v1/tenants/acme/invites?cursor=n": `{"invites":[{"inviteId":"i2","revoked":true}]}`},
			func(c *Client) (string, error) {
				vs, raws, err := c.Invites(ctx, "acme")
				return words(len(vs), len(raws), vs[0].InviteID, vs[1].InviteID, vs[1].Revoked), err
			}, "2 2 i1 i2 true", []string{"GET /v1/tenants/acme/invites", "GET /v1/tenants/acme/invites?cursor=n"}},
		{"revoke invite", map[string]string{"DELETE /v1/tenants/acme/invites/i1": `{"inviteId":"i1","revoked":true}`},
			func(c *Client) (string, error) {
				raw, err := c.RevokeInvite(ctx, "acme", "i1")
				return string(raw), err
			}, `{"inviteId":"i1","revoked":true}`, []string{"DELETE /v1/tenants/acme/invites/i1"}},
		{"rotate with a grace and revoking invites", map[string]string{"POST /v1/tenants/acme/external-id/rotate": tenantJSON},
			func(c *Client) (string, error) {
				t, _, err := c.Rotate(ctx, "acme", time.Hour, true)
				return words(t.ExternalIDVersion), err
			}, "2", []string{`POST /v1/tenants/acme/external-id/rotate {"graceSeconds":3600,"revokeInvites":true}`}},
		{"rotate with the defaults", map[string]string{"POST /v1/tenants/acme/external-id/rotate": tenantJSON},
			func(c *Client) (string, error) {
				_, _, err := c.Rotate(ctx, "acme", -1, false)
				return "", err
			}, "", []string{"POST /v1/tenants/acme/external-id/rotate"}},
		{"a tenant's connections", map[string]string{"GET /v1/tenants/acme/connections?limit=500": `{"connections":[` + connJSON + `]}`},
			func(c *Client) (string, error) {
				cs, _, err := c.Connections(ctx, "acme", "")
				return words(len(cs), cs[0].AccountID, cs[0].Status), err
			}, "1 444455556666 VERIFIED", []string{"GET /v1/tenants/acme/connections?limit=500"}},
		{"connections by status", map[string]string{"GET /v1/connections?limit=500&status=FAILED": `{"connections":[]}`},
			func(c *Client) (string, error) {
				cs, _, err := c.Connections(ctx, "", connection.Failed)
				return words(len(cs)), err
			}, "0", []string{"GET /v1/connections?limit=500&status=FAILED"}},
		{"history", map[string]string{"GET /v1/tenants/acme/connections/444455556666": `{"connection":` + connJSON + `,"events":[{"detailType":"Role Verified","eventId":"e1","status":"VERIFIED"}]}`},
			func(c *Client) (string, error) {
				h, _, err := c.History(ctx, "acme", "444455556666")
				return words(h.Connection.Version, len(h.Events), h.Events[0].DetailType, h.Events[0].EventID), err
			}, "3 1 Role Verified e1", []string{"GET /v1/tenants/acme/connections/444455556666"}},
		{"check", map[string]string{"POST /v1/tenants/acme/connections/444455556666/check": connJSON},
			func(c *Client) (string, error) {
				cn, _, err := c.Check(ctx, "acme", "444455556666")
				return cn.RoleARN, err
			}, "arn:aws:iam::444455556666:role/R", []string{"POST /v1/tenants/acme/connections/444455556666/check"}},
		{"disconnect", map[string]string{"DELETE /v1/tenants/acme/connections/444455556666": `{"tenantId":"acme","accountId":"444455556666","status":"DISCONNECTED"}`},
			func(c *Client) (string, error) {
				cn, _, err := c.Disconnect(ctx, "acme", "444455556666")
				return string(cn.Status), err
			}, "DISCONNECTED", []string{"DELETE /v1/tenants/acme/connections/444455556666"}},
		{"events after one", map[string]string{"GET /v1/events?after=e1&limit=10": `{"events":[{"id":"e2","detail-type":"Role Verified","source":"rolecall","detail":{"eventId":"e2","tenantId":"acme"}}]}`},
			func(c *Client) (string, error) {
				es, raws, err := c.Events(ctx, "e1", 10)
				return words(len(es), len(raws), es[0].ID, es[0].DetailType, es[0].Detail.TenantID), err
			}, "1 1 e2 Role Verified acme", []string{"GET /v1/events?after=e1&limit=10"}},
		{"sweep", map[string]string{"POST /v1/sweeps": `{"enqueued":4}`},
			func(c *Client) (string, error) {
				n, _, err := c.Sweep(ctx, true)
				return words(n), err
			}, "4", []string{`POST /v1/sweeps {"all":true}`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &scripted{answers: tc.answers}
			srv := httptest.NewServer(s)
			defer srv.Close()
			c, err := New(srv.URL, access.BearerToken("tok"), nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tc.call(c)
			if err != nil || got != tc.want {
				t.Errorf("got %q %v, want %q", got, err, tc.want)
			}
			if fmt.Sprint(s.seen) != fmt.Sprint(tc.sent) {
				t.Errorf("sent %q, want %q", s.seen, tc.sent)
			}
		})
	}
}

// TestRoutesRefuseMalformedAnswers: an answer of the wrong shape is an
// error naming what was being decoded, never a zero value taken as data.
func TestRoutesRefuseMalformedAnswers(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		call func(*Client) error
		want string
	}{
		{"tenant", func(c *Client) error { _, _, err := c.Tenant(ctx, "acme"); return err }, "decode tenant"},
		{"tenants", func(c *Client) error { _, _, err := c.Tenants(ctx); return err }, "decode tenants"},
		{"invites", func(c *Client) error { _, _, err := c.Invites(ctx, "acme"); return err }, "decode invites"},
		{"connections", func(c *Client) error { _, _, err := c.Connections(ctx, "acme", ""); return err }, "decode connections"},
		{"history", func(c *Client) error { _, _, err := c.History(ctx, "acme", "1"); return err }, "decode connection history"},
		{"events", func(c *Client) error { _, _, err := c.Events(ctx, "", 1); return err }, "decode events"},
		{"sweep", func(c *Client) error { _, _, err := c.Sweep(ctx, false); return err }, "decode sweep"},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `"a string where an object belongs"`)
	}))
	defer srv.Close()
	c, _ := New(srv.URL, access.BearerToken("tok"), nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(c); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// TestListingsRefuseMalformedItems: a listing whose page decodes but one
// of whose items does not is an error naming the item, and so is a refused
// request; no partial list is returned.
func TestListingsRefuseMalformedItems(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		answers map[string]string
		call    func(*Client) (int, error) // how many items came back
		want    string
	}{
		{"a tenant of the wrong shape", map[string]string{"GET /v1/tenants?limit=500": `{"tenants":[{"tenantId":"acme"},{"tenantId":7}]}`},
			func(c *Client) (int, error) { ts, _, err := c.Tenants(ctx); return len(ts), err }, "decode tenant"},
		{"an event of the wrong shape", map[string]string{"GET /v1/events?limit=5": `{"events":[{"id":"e1"},{"id":["e2"]}]}`},
			func(c *Client) (int, error) { evs, _, err := c.Events(ctx, "", 5); return len(evs), err }, "decode event"},
		{"events refused", nil,
			func(c *Client) (int, error) { evs, _, err := c.Events(ctx, "e9", 5); return len(evs), err }, "NOT_FOUND"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(&scripted{answers: tc.answers})
			defer srv.Close()
			c, err := New(srv.URL, access.BearerToken("tok"), nil)
			if err != nil {
				t.Fatal(err)
			}
			n, err := tc.call(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) || n != 0 {
				t.Errorf("got %d items, %v; want none and an error saying %q", n, err, tc.want)
			}
		})
	}
}

// words joins its operands with spaces.
func words(a ...any) string { return strings.TrimSuffix(fmt.Sprintln(a...), "\n") }

// TestPage: a listing's page gives its items and cursor, or an error
// naming the listing; an item of the wrong shape fails its decoding.
func TestPage(t *testing.T) {
	tests := []struct {
		name, raw  string
		items      int
		cursor     string
		wantErr    string
		decodeFail bool // the items do not decode as Invite
	}{
		{"page with a cursor", `{"invites":[{"inviteId":"a"},{"inviteId":"b"}],"cursor":"n"}`, 2, "n", "", false},
		{"last page", `{"invites":[{"inviteId":"a"}],"cursor":null}`, 1, "", "", false},
		{"a bare array is not a page", ` [{"inviteId":"a"}]`, 0, "", "decode invites", false},
		{"no items", `{}`, 0, "", "", false},
		{"items not a list", `{"invites":{"inviteId":"a"}}`, 0, "", "decode invites", false},
		{"cursor not a string", `{"invites":[],"cursor":5}`, 0, "", "decode invites cursor", false},
		{"bad bare array", `[1,`, 0, "", "decode invites", false},
		{"item of the wrong shape", `{"invites":[{"inviteId":7}]}`, 1, "", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			items, cursor, err := page([]byte(tc.raw), "invites")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(items) != tc.items || cursor != tc.cursor {
				t.Fatalf("page = %d items, cursor %q, %v; want %d, %q", len(items), cursor, err, tc.items, tc.cursor)
			}
			if _, err := decodeItems[Invite](items, "invite"); (err != nil) != tc.decodeFail {
				t.Errorf("decoding the items: %v", err)
			}
		})
	}
}

// A grace that is no whole number of seconds is refused before anything
// is sent: cut to the API's seconds, one under a second would be 0, which
// retires the previous external ID at once.
func TestRotateRefusesAFractionOfASecond(t *testing.T) {
	s := &scripted{answers: map[string]string{"POST /v1/tenants/acme/external-id/rotate": tenantJSON}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c, err := New(srv.URL, access.BearerToken("tok"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, grace := range []time.Duration{500 * time.Millisecond, time.Hour + time.Millisecond} {
		if _, _, err := c.Rotate(context.Background(), "acme", grace, false); err == nil || !strings.Contains(err.Error(), "whole number of seconds") {
			t.Errorf("grace %s: %v; want a refusal", grace, err)
		}
	}
	if len(s.seen) != 0 {
		t.Errorf("sent %q", s.seen)
	}
}
