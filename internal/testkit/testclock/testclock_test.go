package testclock

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestClockMovesOnlyWhenMoved(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := New(t0)
	steps := []struct {
		name string
		move func()
		want time.Time
	}{
		{"stands", func() {}, t0},
		{"advance", func() { c.Advance(time.Minute) }, t0.Add(time.Minute)},
		{"sleep", func() {
			if err := c.Sleep(context.Background(), time.Second); err != nil {
				t.Fatal(err)
			}
		}, t0.Add(time.Minute + time.Second)},
		{"set", func() { c.Set(t0.Add(time.Hour)) }, t0.Add(time.Hour)},
		{"advance to a later time", func() { c.AdvanceTo(t0.Add(2 * time.Hour)) }, t0.Add(2 * time.Hour)},
		{"never back", func() { c.AdvanceTo(t0) }, t0.Add(2 * time.Hour)},
	}
	for _, st := range steps {
		st.move()
		if got := c.Now(); !got.Equal(st.want) {
			t.Fatalf("%s: now %s, want %s", st.name, got, st.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) || !c.Now().Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("sleep on a done context: %v, now %s; want context.Canceled and the clock unmoved", err, c.Now())
	}
}

func TestBusiestSecond(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms ...int) []time.Time {
		var ts []time.Time
		for _, m := range ms {
			ts = append(ts, t0.Add(time.Duration(m)*time.Millisecond))
		}
		return ts
	}
	tests := []struct {
		name  string
		times []time.Time
		want  int
	}{
		{"none", nil, 0},
		{"one", at(5), 1},
		{"a second apart fall in two windows", at(0, 1000), 1},
		{"just inside one window", at(0, 999), 2},
		{"unsorted", at(1500, 0, 900, 1200, 2600), 3},
	}
	for _, tt := range tests {
		if got := BusiestSecond(tt.times); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}
