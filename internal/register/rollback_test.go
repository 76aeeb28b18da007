package register

import (
	"context"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/registration"
)

// TestFailedTenantSwitchKeepsThePhysicalID: an Update that moves the
// resource to another tenant's token, and whose role then fails its check,
// answers FAILED with the resource's own physical ID. CloudFormation keeps
// that ID on a failed Update and rolls back under it; a new ID in the
// answer would name a resource it never deletes.
func TestFailedTenantSwitchKeepsThePhysicalID(t *testing.T) {
	e, secret, _, otherSecret := newVerifiedEnv(t)
	e.h.Wait = 10 * e.h.Poll
	e.waits = 0
	e.onWait = func() {
		if e.waits == 1 {
			e.check("other", custAcct, connection.ResultNotEnforced)
		}
	}
	up := withField(msg("Update", "u1", "acme/"+custAcct, props(custRole, otherSecret)), "OldResourceProperties", props(custRole, secret))
	if err := e.h.HandleMessage(context.Background(), up); err != nil {
		t.Fatal(err)
	}
	if got := e.rec.last(t); got["Status"] != "FAILED" || got["PhysicalResourceId"] != "acme/"+custAcct {
		t.Fatalf("failed tenant switch answered %v, want FAILED with acme/%s", got, custAcct)
	}
	// The rollback, under that ID, changes nothing of acme's connection.
	e.onWait = nil
	back := withField(msg("Update", "u2", "acme/"+custAcct, props(custRole, secret)), "OldResourceProperties", props(custRole, otherSecret))
	if err := e.h.HandleMessage(context.Background(), back); err != nil {
		t.Fatal(err)
	}
	if got := e.rec.last(t); got["Status"] != "SUCCESS" || got["PhysicalResourceId"] != "acme/"+custAcct {
		t.Fatalf("rollback answered %v", got)
	}
	if c, err := e.st.GetConnection(context.Background(), "acme", custAcct); err != nil || c.Status != connection.Verified || c.RoleARN != custRole {
		t.Fatalf("acme's connection after the rollback: %+v, %v", c, err)
	}
}

// TestRollbackAfterTheTokenExpired: a stack outlives its token's year. An
// Update of its role after that is refused (REGISTRATION_TOKEN_EXPIRED);
// CloudFormation's rollback to the role in use, with the same expired
// token, changes nothing and is answered SUCCESS, so the stack does not end
// UPDATE_ROLLBACK_FAILED. A revoked token is refused still.
func TestRollbackAfterTheTokenExpired(t *testing.T) {
	for _, revoked := range []bool{false, true} {
		t.Run(map[bool]string{false: "expired", true: "revoked"}[revoked], func(t *testing.T) {
			e, secret, tok, _ := newVerifiedEnv(t)
			ctx := context.Background()
			e.now = e.now.Add(registration.DefaultTTL + 24*time.Hour)
			if revoked {
				if _, err := e.regs.RevokeToken(ctx, "acme", tok.ID); err != nil {
					t.Fatal(err)
				}
			}
			forward := withField(msg("Update", "u1", "acme/"+custAcct, props(custRole2, secret)), "OldResourceProperties", props(custRole, secret))
			if err := e.h.HandleMessage(ctx, forward); err != nil {
				t.Fatal(err)
			}
			if got := e.rec.last(t); got["Status"] != "FAILED" || got["PhysicalResourceId"] != "acme/"+custAcct {
				t.Fatalf("the Update of the role: %v, want FAILED", got)
			}
			back := withField(msg("Update", "u2", "acme/"+custAcct, props(custRole, secret)), "OldResourceProperties", props(custRole2, secret))
			if err := e.h.HandleMessage(ctx, back); err != nil {
				t.Fatal(err)
			}
			want := "SUCCESS"
			if revoked {
				want = "FAILED"
			}
			if got := e.rec.last(t); got["Status"] != want {
				t.Fatalf("the rollback to the role in use: %v, want %s", got, want)
			}
			if c, err := e.st.GetConnection(ctx, "acme", custAcct); err != nil || c.Status != connection.Verified || c.RoleARN != custRole || c.Candidate.RoleARN != "" {
				t.Fatalf("the connection changed: %+v, %v", c, err)
			}
		})
	}
}
