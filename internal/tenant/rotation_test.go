package tenant

import (
	"testing"
	"time"
)

func TestRotatedWithGrace(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	v1, _ := New("acme", "Acme", t0)
	v2 := v1.RotatedWithGrace(t0.Add(time.Hour), 24*time.Hour)
	v3 := v2.RotatedWithGrace(t0.Add(2*time.Hour), time.Hour) // during v2's grace: v1 retired at once
	revoked := v1.Rotated(t0.Add(time.Hour))
	tests := []struct {
		name     string
		t        Tenant
		v        int
		previous bool
		at       time.Time
		want     bool
	}{
		{"current", v2, 2, false, t0.Add(time.Hour), true},
		{"previous inside the grace", v2, 1, true, t0.Add(24 * time.Hour), true},
		{"previous at the grace's end", v2, 1, true, t0.Add(25 * time.Hour), false},
		{"previous as if current", v2, 1, false, t0.Add(2 * time.Hour), false},
		{"older previous retired by a second rotation", v3, 1, true, t0.Add(2 * time.Hour), false},
		{"second rotation's previous", v3, 2, true, t0.Add(2 * time.Hour), true},
		{"revoked at once", revoked, 1, true, t0.Add(time.Hour), false},
		{"retired", v2.Retired(), 1, true, t0.Add(2 * time.Hour), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.t.AcceptsExternalID(tc.v, tc.previous, tc.at); got != tc.want {
				t.Fatalf("AcceptsExternalID(%d, %v, %s) = %v", tc.v, tc.previous, tc.at, got)
			}
		})
	}
	if v2.PreviousExternalID != v1.ExternalID || v2.PreviousExternalIDVersion != 1 || v2.ExternalIDVersion != 2 || v2.ExternalID == v1.ExternalID ||
		!v2.GraceEndsAt.Equal(t0.Add(25*time.Hour)) || !v2.InGrace() {
		t.Fatalf("v2 %+v", v2)
	}
	if v3.PreviousExternalID != v2.ExternalID || revoked.InGrace() || v2.Retired().InGrace() || v2.Retired().ExternalID != v2.ExternalID {
		t.Fatalf("v3 %+v, revoked %+v", v3, revoked)
	}
}
