package sweep

import (
	"context"
	"fmt"
	"time"

	"github.com/rolecall/rolecall/internal/rotation"
)

// Graces is a store that lists the tenants whose rotation's grace has
// ended (store.Store does): a due sweep completes their rotations, those
// of tenants that no live connection leads it to included.
type Graces interface {
	rotation.Store
	GracesEnded(ctx context.Context, until time.Time, limit int) ([]string, error)
}

// MaxGraces is the most rotations a due sweep completes; the next sweep
// completes the rest. Each takes a listing's share, a read and a write.
const MaxGraces = 100

// settleGraces completes the rotations whose grace ended by until, when the
// store lists them, and reports how many it completed; a tenant the sweep
// has read already (tenants), and so tried to settle, is passed over. A
// rotation not completed (a conflict, a throttled write) is tried again by
// the next sweep, which lists it again; only a failed listing is an error.
func (s *Sweeper) settleGraces(ctx context.Context, until time.Time, tenants *tenantCache) (int, error) {
	g, ok := s.Store.(Graces)
	if !ok {
		return 0, nil
	}
	ids, err := g.GracesEnded(ctx, until, MaxGraces)
	if err != nil {
		return 0, fmt.Errorf("list the rotations whose grace ended: %w", err)
	}
	completed := 0
	for _, id := range ids {
		if tenants.read(id) {
			continue
		}
		done, err := rotation.SettleTenant(ctx, g, id, until)
		switch {
		case err != nil:
			s.log().Warn("rotation not completed; the next sweep tries again", "tenantId", id, "error", err)
		case done:
			completed++
		}
	}
	return completed, nil
}
