package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/registration"
	"github.com/rolecall/rolecall/internal/tenant"
)

// TestTenantWritesRetryConflicts: DynamoDB cancels a transaction with
// TransactionConflict while another one is in flight on one of its items,
// and every guarded check of a tenant's connections touches the tenant
// item, so rotations of a busy tenant meet it routinely. Like Apply, the
// tenant, invite and token writes retry it (each attempt with its own
// request token), then report ErrConflict; a condition that failed maps to
// its error at once.
func TestTenantWritesRetryConflicts(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tn, err := tenant.New("acme", "Acme", now)
	if err != nil {
		t.Fatal(err)
	}
	rotated := tn.RotatedWithGrace(now, time.Hour)
	_, inv := tenant.NewInvite("acme", now, time.Hour)
	_, tok, err := registration.New("acme", now, 0)
	if err != nil {
		t.Fatal(err)
	}
	writes := []struct {
		name  string
		write func(d *DynamoDB) error
		taken error // the error when the first item's condition fails
	}{
		{"CreateTenant", func(d *DynamoDB) error { return d.CreateTenant(context.Background(), tn) }, ErrTenantExists},
		{"RotateExternalID", func(d *DynamoDB) error { return d.RotateExternalID(context.Background(), rotated) }, ErrNotFound},
		{"CompleteRotation", func(d *DynamoDB) error {
			return d.CompleteRotation(context.Background(), rotated, connection.CompletionGraceEnded, now)
		}, ErrConflict},
		{"PutInvite", func(d *DynamoDB) error { return d.PutInvite(context.Background(), inv) }, ErrInviteExists},
		{"PutRegistrationToken", func(d *DynamoDB) error { return d.PutRegistrationToken(context.Background(), tok) }, ErrConflict},
	}
	const N, C, X = "None", "ConditionalCheckFailed", "TransactionConflict"
	scripts := []struct {
		name   string
		script []error
		want   error // nil: committed
		calls  int
	}{
		{"a conflict, then committed", []error{cancelled(X, N)}, nil, 2},
		{"conflicts, then committed", []error{cancelled(N, X), cancelled(X, N)}, nil, 3},
		{"conflicts forever", slices.Repeat([]error{cancelled(X, N)}, txnAttempts), ErrConflict, txnAttempts},
		{"first condition failed", []error{cancelled(C, N)}, errTaken, 1},
	}
	for _, w := range writes {
		for _, sc := range scripts {
			t.Run(w.name+"/"+sc.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					db := &fakeDB{script: slices.Clone(sc.script)}
					err := w.write(NewDynamoDB(db, "t"))
					want := sc.want
					if want == errTaken {
						want = w.taken
					}
					if want == nil && err != nil || want != nil && !errors.Is(err, want) {
						t.Fatalf("got %v, want %v", err, want)
					}
					if len(db.calls) != sc.calls {
						t.Fatalf("%d calls, want %d", len(db.calls), sc.calls)
					}
					tokens := map[string]bool{}
					for _, c := range db.calls {
						if c.ClientRequestToken == nil || tokens[*c.ClientRequestToken] {
							t.Fatalf("attempts without their own request token: %v", db.calls)
						}
						tokens[*c.ClientRequestToken] = true
					}
				})
			})
		}
	}
}

// errTaken stands for the write's own error for a failed first condition.
var errTaken = errors.New("the write's condition error")
