package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
)

// testGracesEnded: GracesEnded lists the tenants whose rotation's grace has
// ended by a time and whose rotation is not completed, soonest end first,
// up to a limit; a rotation without grace, a completed one, or one
// superseded by a rotation with a later grace is not listed.
func testGracesEnded(t *testing.T, f *Fixture) {
	start := f.Now
	f.RotateWithGrace("late", 3*time.Hour)
	f.RotateWithGrace("soon", time.Hour)
	f.RotateWithGrace("done", 2*time.Hour)
	f.Rotate("revoked")
	f.Tenant("never")
	f.Now = start.Add(time.Minute)
	// A rotation superseded by one whose grace ends later is due then.
	f.RotateWithGrace("again", time.Minute)
	f.RotateWithGrace("again", 5*time.Hour)
	done := f.Tenant("done")
	if err := f.S.CompleteRotation(f.Ctx, done, connection.CompletionAllCurrent, f.Now); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		until time.Time
		limit int
		want  []string
	}{
		{"before every end", start.Add(59 * time.Minute), 10, nil},
		{"at an end", start.Add(time.Hour), 10, []string{"soon"}},
		{"later, soonest first", start.Add(4 * time.Hour), 10, []string{"soon", "late"}},
		{"after every end", start.Add(6 * time.Hour), 10, []string{"soon", "late", "again"}},
		{"a limit", start.Add(6 * time.Hour), 2, []string{"soon", "late"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.S.GracesEnded(f.Ctx, tt.until, tt.limit)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("GracesEnded(%s, %d) = %v, %v; want %v", tt.until.Sub(start), tt.limit, got, err, tt.want)
			}
		})
	}

	// A completed rotation leaves the listing.
	if err := f.S.CompleteRotation(f.Ctx, f.Tenant("soon"), connection.CompletionGraceEnded, start.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, err := f.S.GracesEnded(f.Ctx, start.Add(6*time.Hour), 10); err != nil || !slices.Equal(got, []string{"late", "again"}) {
		t.Errorf("after completing soon: %v, %v; want [late again]", got, err)
	}
}
