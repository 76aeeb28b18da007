package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rolecall/rolecall/access"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/sandbox"
	"github.com/rolecall/rolecall/internal/testkit/awsfake"
)

const graceSeconds = 7 * 24 * 3600

// rotate rotates tenantID's external ID with a week's grace through the
// API.
func (e *env) rotate(t *testing.T, tenantID string) {
	t.Helper()
	if w := e.do(ops("POST", "/v1/tenants/"+tenantID+"/external-id/rotate", `{"graceSeconds":604800}`)); w.Code != http.StatusOK {
		t.Fatalf("rotate: %d %s", w.Code, w.Body)
	}
}

// checkedWith applies a successful check of the connection of
// customerAcct made with the tenant's external ID of version v (current:
// the call with the current ID worked; false: only the previous one did),
// as the verify worker would.
func (e *env) checkedWith(t *testing.T, tenantID string, v int, current bool) {
	t.Helper()
	ctx := context.Background()
	c, err := e.mem.GetConnection(ctx, tenantID, customerAcct)
	if err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(time.Minute)
	tr, err := e.svc.Policy.Apply(c, connection.Outcome{Result: connection.ResultOK, Version: c.Version,
		ExternalIDVersion: v, ExternalIDCurrent: current, CheckedAt: e.now})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.mem.Apply(ctx, tr); err != nil {
		t.Fatal(err)
	}
}

// TestAccessHandsOutTheExternalIDTheRoleVerifiedWith: during a rotation's
// grace a connection verified with the previous external ID only stays
// VERIFIED, and workloads get the ID its role trusts; in every other case
// the current one. Both access routes answer the same.
func TestAccessHandsOutTheExternalIDTheRoleVerifiedWith(t *testing.T) {
	tests := []struct {
		name string
		// setup brings the connection (VERIFIED with version 1) to the
		// state under test.
		setup        func(t *testing.T, e *env)
		wantPrevious bool
		wantVersion  int
	}{
		{"no rotation", func(t *testing.T, e *env) {}, false, 1},
		{"verified with the current ID during the grace", func(t *testing.T, e *env) {
			e.rotate(t, "acme")
			e.checkedWith(t, "acme", 2, true)
		}, false, 2},
		{"verified with the previous ID during the grace", func(t *testing.T, e *env) {
			e.rotate(t, "acme")
			e.checkedWith(t, "acme", 1, false)
		}, true, 1},
		{"verified before the rotation, not checked since", func(t *testing.T, e *env) {
			e.rotate(t, "acme")
		}, true, 1},
		{"verified with the previous ID, after the grace", func(t *testing.T, e *env) {
			e.rotate(t, "acme")
			e.checkedWith(t, "acme", 1, false)
			e.now = e.now.Add(graceSeconds * time.Second)
		}, false, 2},
		{"verified with the previous ID, the grace's last second", func(t *testing.T, e *env) {
			e.rotate(t, "acme")
			rotatedAt := e.now
			e.checkedWith(t, "acme", 1, false)
			e.now = rotatedAt.Add(graceSeconds*time.Second - time.Second)
		}, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			// The handler judges the grace on its own clock: the
			// env's, as the service's.
			e.h.cfg.Now = func() time.Time { return e.now }
			original := e.tenant("acme")
			e.verified(t, "acme")
			tt.setup(t, e)
			tn := e.mustTenant("acme")
			c, err := e.mem.GetConnection(context.Background(), "acme", customerAcct)
			if err != nil || c.Status != connection.Verified {
				t.Fatalf("connection %s, %v", c.Status, err)
			}
			wantID := tn.ExternalID
			if tt.wantPrevious {
				wantID = tn.PreviousExternalID
				if wantID != original.ExternalID {
					t.Fatal("the previous external ID is not the one the tenant was created with")
				}
			}
			w := e.do(ops("GET", "/v1/tenants/acme/connections/"+customerAcct+"/access", ""))
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			one := decode[access.Connection](t, w)
			w = e.do(ops("GET", "/v1/tenants/acme/access", ""))
			if w.Code != http.StatusOK {
				t.Fatalf("list status %d: %s", w.Code, w.Body)
			}
			list := decode[access.Page](t, w)
			if len(list.Connections) != 1 {
				t.Fatalf("listed %d connections, want 1", len(list.Connections))
			}
			for route, got := range map[string]access.Connection{"connection": one, "list": list.Connections[0]} {
				if got.ExternalID != wantID || got.ExternalIDVersion != tt.wantVersion {
					t.Errorf("%s: external ID version %d (previous: %v), want version %d (previous: %v)",
						route, got.ExternalIDVersion, got.ExternalID == tn.PreviousExternalID, tt.wantVersion, tt.wantPrevious)
				}
			}
		})
	}
}

// TestWorkloadCredentialsDuringTheGrace: a workload using the access
// package against this API gets working credentials for a role that
// trusts only the previous external ID while the grace lasts, and the
// role's refusal once it is over.
func TestWorkloadCredentialsDuringTheGrace(t *testing.T) {
	const (
		workloadKey  = "AKIAWORKLOAD00000001"
		workloadRole = "arn:aws:iam::" + partnerAcct + ":role/billing-backend"
	)
	e := newEnv(t)
	e.h.cfg.Now = func() time.Time { return e.now }
	previous := e.tenant("acme")
	e.verified(t, "acme")
	e.rotate(t, "acme")
	e.checkedWith(t, "acme", previous.ExternalIDVersion, false)

	fake := awsfake.NewChainSTS()
	fake.AddPrincipal(workloadKey, workloadRole)
	fake.AddRole(principalARN, workloadRole, "")
	fake.AddRole(customerRole, principalARN, previous.ExternalID) // the trust policy still names the previous ID only
	stsSrv := httptest.NewServer(fake)
	defer stsSrv.Close()
	apiSrv := httptest.NewServer(e.h)
	defer apiSrv.Close()
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(stsSrv.URL), Retryer: func() aws.Retryer { return aws.NopRetryer{} },
		Credentials: credentials.NewStaticCredentialsProvider(workloadKey, sandbox.DefaultCallerSecret(workloadKey), "")}
	api := &access.API{BaseURL: apiSrv.URL, Auth: access.BearerToken(testToken)}
	ctx := context.Background()

	during := access.New(cfg, api, access.Options{Workload: "billing"})
	out, err := sts.NewFromConfig(during.Config("acme", customerAcct)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("during the grace: %v", err)
	}
	if got := aws.ToString(out.Account); got != customerAcct {
		t.Errorf("identity in account %s, want %s", got, customerAcct)
	}
	if n := fake.Assumed(customerRole); n != 1 {
		t.Errorf("customer role assumed %d times, want 1", n)
	}

	// Once the grace is over the current ID is handed out, which this role
	// does not trust: the workload is refused by the customer's role.
	e.now = e.now.Add(graceSeconds * time.Second)
	after := access.New(cfg, api, access.Options{Workload: "billing"})
	_, err = after.Credentials("acme", customerAcct).Retrieve(ctx)
	var denied *access.AccessDeniedError
	if !errors.As(err, &denied) {
		t.Fatalf("after the grace: error %v, want an *access.AccessDeniedError", err)
	}
	if strings.Contains(err.Error(), previous.ExternalID) {
		t.Error("the refusal shows an external ID")
	}
}
