package storetest

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/registration"
	"github.com/rolecall/rolecall/internal/store"
)

// RunRegistrations is the contract suite of store.Registrations. newStore
// returns a new, empty store for each subtest.
func RunRegistrations(t *testing.T, newStore func(t *testing.T) store.Registrations) {
	contract[store.Registrations]{
		{"TokenRoundTrip", testTokenRoundTrip},
		{"TokenConflicts", testTokenConflicts},
		{"TokenListIsPerTenant", testTokenList},
		{"Revoke", testTokenRevoke},
		{"Answers", testAnswers},
		{"AnswerRace", testAnswerRace},
	}.run(t, newStore)
}

var regNow = time.Date(2030, 1, 2, 3, 4, 5, 6789, time.UTC)

func newToken(t *testing.T, tenantID string, at time.Time) (string, registration.Token) {
	t.Helper()
	secret, tok, err := registration.New(tenantID, at, 0)
	if err != nil {
		t.Fatal(err)
	}
	return secret, tok
}

func wantToken(t *testing.T, got, want registration.Token) {
	t.Helper()
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) || !got.RevokedAt.Equal(want.RevokedAt) {
		t.Fatalf("token times = %v/%v/%v, want %v/%v/%v", got.CreatedAt, got.ExpiresAt, got.RevokedAt, want.CreatedAt, want.ExpiresAt, want.RevokedAt)
	}
	got.CreatedAt, got.ExpiresAt, got.RevokedAt = want.CreatedAt, want.ExpiresAt, want.RevokedAt
	if got != want {
		t.Fatalf("token = %+v, want %+v", got, want)
	}
}

func testTokenRoundTrip(t *testing.T, s store.Registrations) {
	ctx := context.Background()
	secret, tok := newToken(t, "acme", regNow)
	tok.Via, tok.InviteHash = registration.ViaInvite, "0123abcd"
	if err := s.PutRegistrationToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRegistrationToken(ctx, registration.Hash(secret))
	if err != nil {
		t.Fatal(err)
	}
	wantToken(t, got, tok)
	if err := got.Check(secret, regNow); err != nil {
		t.Fatalf("stored token does not authenticate its secret: %v", err)
	}
	if _, err := s.GetRegistrationToken(ctx, registration.Hash(secret+"x")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown digest: err = %v, want ErrNotFound", err)
	}
}

func testTokenConflicts(t *testing.T, s store.Registrations) {
	ctx := context.Background()
	_, tok := newToken(t, "acme", regNow)
	if err := s.PutRegistrationToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	sameHash := tok
	sameHash.ID = registration.NewTokenID()
	sameID := tok
	sameID.Hash = registration.Hash("rcr_other")
	for name, tk := range map[string]registration.Token{"same digest": sameHash, "same id": sameID} {
		if err := s.PutRegistrationToken(ctx, tk); !errors.Is(err, store.ErrConflict) {
			t.Errorf("%s: err = %v, want ErrConflict", name, err)
		}
	}
	list, err := s.ListRegistrationTokens(ctx, "acme")
	if err != nil || len(list) != 1 {
		t.Fatalf("after refused puts: %d tokens, %v; want the first only", len(list), err)
	}
}

func testTokenList(t *testing.T, s store.Registrations) {
	ctx := context.Background()
	var want []registration.Token
	for i := range 3 {
		_, tok := newToken(t, "acme", regNow.Add(time.Duration(i)*time.Minute))
		want = append(want, tok)
	}
	_, other := newToken(t, "acme-2", regNow)
	// Stored out of order: the listing is oldest first.
	for _, tk := range []registration.Token{want[2], other, want[0], want[1]} {
		if err := s.PutRegistrationToken(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListRegistrationTokens(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("listed %d tokens, want %d", len(got), len(want))
	}
	for i := range want {
		wantToken(t, got[i], want[i])
	}
	none, err := s.ListRegistrationTokens(ctx, "nobody")
	if err != nil || len(none) != 0 {
		t.Fatalf("tenant without tokens: %v, %v", none, err)
	}
}

func testTokenRevoke(t *testing.T, s store.Registrations) {
	ctx := context.Background()
	secret, tok := newToken(t, "acme", regNow)
	if err := s.PutRegistrationToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeRegistrationToken(ctx, "acme-2", tok.ID, regNow); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoke through another tenant: err = %v, want ErrNotFound", err)
	}
	if got, _ := s.GetRegistrationToken(ctx, tok.Hash); got.Revoked {
		t.Fatal("another tenant's revoke revoked the token")
	}
	at := regNow.Add(time.Hour)
	got, err := s.RevokeRegistrationToken(ctx, "acme", tok.ID, at)
	if err != nil {
		t.Fatal(err)
	}
	want := tok
	want.Revoked, want.RevokedAt = true, at
	wantToken(t, got, want)
	again, err := s.RevokeRegistrationToken(ctx, "acme", tok.ID, at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	wantToken(t, again, want) // the first revocation time stays
	byHash, err := s.GetRegistrationToken(ctx, registration.Hash(secret))
	if err != nil {
		t.Fatal(err)
	}
	wantToken(t, byHash, want)
	if err := byHash.Check(secret, at); !errors.Is(err, registration.ErrRevoked) {
		t.Fatalf("revoked token checks: %v, want ErrRevoked", err)
	}
	list, _ := s.ListRegistrationTokens(ctx, "acme")
	if len(list) != 1 || !list[0].Revoked {
		t.Fatalf("listing after revoke = %+v", list)
	}
	if _, err := s.RevokeRegistrationToken(ctx, "acme", registration.NewTokenID(), at); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoke unknown: err = %v, want ErrNotFound", err)
	}
}

func testAnswers(t *testing.T, s store.Registrations) {
	ctx := context.Background()
	if _, err := s.GetRegistrationAnswer(ctx, "k1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown answer: err = %v, want ErrNotFound", err)
	}
	first := registration.Answer{Status: "SUCCESS", PhysicalResourceID: "acme/123456789012", Data: map[string]string{"Status": "VERIFIED"}, AnsweredAt: regNow}
	got, err := s.PutRegistrationAnswer(ctx, "k1", first)
	if err != nil {
		t.Fatal(err)
	}
	wantAnswer(t, got, first)
	second := registration.Answer{Status: "FAILED", Reason: "no", PhysicalResourceID: "x", AnsweredAt: regNow.Add(time.Minute)}
	got, err = s.PutRegistrationAnswer(ctx, "k1", second)
	if err != nil {
		t.Fatal(err)
	}
	wantAnswer(t, got, first) // the first answer stays
	read, err := s.GetRegistrationAnswer(ctx, "k1")
	if err != nil {
		t.Fatal(err)
	}
	wantAnswer(t, read, first)
	if got, err := s.PutRegistrationAnswer(ctx, "k2", second); err != nil || got.Status != "FAILED" {
		t.Fatalf("another key: %+v, %v", got, err)
	}
}

func wantAnswer(t *testing.T, got, want registration.Answer) {
	t.Helper()
	if !got.AnsweredAt.Equal(want.AnsweredAt) {
		t.Fatalf("answeredAt = %v, want %v", got.AnsweredAt, want.AnsweredAt)
	}
	got.AnsweredAt = want.AnsweredAt
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("answer = %+v, want %+v", got, want)
	}
}

// testAnswerRace: concurrent deliveries of one request all get one answer.
func testAnswerRace(t *testing.T, s store.Registrations) {
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	got := make([]registration.Answer, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			got[i], errs[i] = s.PutRegistrationAnswer(ctx, "race", registration.Answer{Status: "SUCCESS", PhysicalResourceID: string(rune('a' + i)), AnsweredAt: regNow})
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if got[i].PhysicalResourceID != got[0].PhysicalResourceID {
			t.Fatalf("deliveries got different answers: %q and %q", got[0].PhysicalResourceID, got[i].PhysicalResourceID)
		}
	}
}
