package store

import (
	"context"
	"fmt"
	stdmaps "maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rolecall/rolecall/internal/registration"
)

// Registrations keeps registration tokens and the answers given to
// custom-resource requests. It is a port of its own (beside Store) so the
// registration flow needs nothing else of the store; DynamoDB implements it
// in the same table, MemoryRegistrations in memory, and both pass
// storetest.RunRegistrations.
type Registrations interface {
	// PutRegistrationToken stores a new token; ErrConflict when its ID or
	// digest exists.
	PutRegistrationToken(ctx context.Context, t registration.Token) error
	// GetRegistrationToken finds a token by its digest; ErrNotFound.
	GetRegistrationToken(ctx context.Context, hash string) (registration.Token, error)
	// ListRegistrationTokens returns a tenant's tokens, oldest first.
	ListRegistrationTokens(ctx context.Context, tenantID string) ([]registration.Token, error)
	// RevokeRegistrationToken revokes a tenant's token and returns it;
	// revoking a revoked token keeps its first revocation time.
	// ErrNotFound when the tenant has no such token.
	RevokeRegistrationToken(ctx context.Context, tenantID, tokenID string, at time.Time) (registration.Token, error)

	// GetRegistrationAnswer returns the answer recorded under key;
	// ErrNotFound.
	GetRegistrationAnswer(ctx context.Context, key string) (registration.Answer, error)
	// PutRegistrationAnswer records a if nothing is recorded under key yet
	// and returns what is recorded: a, or the answer that won.
	PutRegistrationAnswer(ctx context.Context, key string, a registration.Answer) (registration.Answer, error)
}

var (
	_ Registrations = (*MemoryRegistrations)(nil)
	_ Registrations = (*DynamoDB)(nil)
)

// MemoryRegistrations is the embedded adapter of Registrations.
type MemoryRegistrations struct {
	mu      sync.Mutex
	tokens  map[string]registration.Token // by digest
	answers map[string]registration.Answer
}

// NewMemoryRegistrations returns an empty MemoryRegistrations.
func NewMemoryRegistrations() *MemoryRegistrations {
	return &MemoryRegistrations{tokens: map[string]registration.Token{}, answers: map[string]registration.Answer{}}
}

// PutRegistrationToken implements Registrations.
func (m *MemoryRegistrations) PutRegistrationToken(ctx context.Context, t registration.Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.tokens[t.Hash]; ok {
		return fmt.Errorf("put registration token %s: %w", t.ID, ErrConflict)
	}
	for _, o := range m.tokens {
		if o.ID == t.ID && o.TenantID == t.TenantID {
			return fmt.Errorf("put registration token %s: %w", t.ID, ErrConflict)
		}
	}
	m.tokens[t.Hash] = t
	return nil
}

// GetRegistrationToken implements Registrations.
func (m *MemoryRegistrations) GetRegistrationToken(ctx context.Context, hash string) (registration.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return lookup(m.tokens, hash, "get registration token")
}

// ListRegistrationTokens implements Registrations.
func (m *MemoryRegistrations) ListRegistrationTokens(ctx context.Context, tenantID string) ([]registration.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []registration.Token
	for _, t := range m.tokens {
		if t.TenantID == tenantID {
			out = append(out, t)
		}
	}
	sortTokens(out)
	return out, nil
}

// sortTokens orders tokens oldest first, then by ID.
func sortTokens(ts []registration.Token) {
	slices.SortFunc(ts, func(a, b registration.Token) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// RevokeRegistrationToken implements Registrations.
func (m *MemoryRegistrations) RevokeRegistrationToken(ctx context.Context, tenantID, tokenID string, at time.Time) (registration.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for h, t := range m.tokens {
		if t.TenantID == tenantID && t.ID == tokenID {
			if !t.Revoked {
				t.Revoked, t.RevokedAt = true, at.UTC()
				m.tokens[h] = t
			}
			return t, nil
		}
	}
	return registration.Token{}, fmt.Errorf("revoke registration token %s of %s: %w", tokenID, tenantID, ErrNotFound)
}

// GetRegistrationAnswer implements Registrations.
func (m *MemoryRegistrations) GetRegistrationAnswer(ctx context.Context, key string) (registration.Answer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := lookup(m.answers, key, "get registration answer")
	a.Data = stdmaps.Clone(a.Data)
	return a, err
}

// PutRegistrationAnswer implements Registrations.
func (m *MemoryRegistrations) PutRegistrationAnswer(ctx context.Context, key string, a registration.Answer) (registration.Answer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.answers[key]; ok {
		old.Data = stdmaps.Clone(old.Data)
		return old, nil
	}
	a.AnsweredAt = a.AnsweredAt.UTC()
	a.Data = stdmaps.Clone(a.Data)
	m.answers[key] = a
	return a, nil
}
