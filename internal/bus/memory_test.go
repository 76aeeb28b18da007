package bus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/bus/bustest"
	"github.com/rolecall/rolecall/internal/testkit/logcapture"
	"github.com/rolecall/rolecall/internal/testkit/rejectscript"
)

func memoryHarness(t *testing.T) (bustest.Harness, *bus.Memory) {
	m := bus.NewMemory()
	var script rejectscript.Script
	bus.Reject(m, func(bus.Entry) string { return script.Next() })
	return bustest.Harness{
		Bus: m,
		Accepted: func() []bus.Entry {
			envs, err := m.Since("", 0)
			if err != nil {
				t.Fatalf("Since: %v", err)
			}
			out := make([]bus.Entry, len(envs))
			for i, e := range envs {
				out[i] = bus.Entry{Source: e.Source, DetailType: e.DetailType, Detail: string(e.Detail), Time: e.Time, Resources: e.Resources}
			}
			return out
		},
		RejectNext: script.Push,
	}, m
}

func TestMemoryContract(t *testing.T) {
	bustest.Run(t, func(t *testing.T) bustest.Harness { h, _ := memoryHarness(t); return h })
}

func TestMemoryDeliversByDetailType(t *testing.T) {
	m := bus.NewMemory()
	var logs bytes.Buffer
	rec := logcapture.New(slog.NewJSONHandler(&logs, nil))
	m.Log = slog.New(rec)
	var submitted, all []string
	m.Subscribe("Role Submitted", func(_ context.Context, ev bus.Envelope) error {
		submitted = append(submitted, string(ev.Detail))
		return nil
	})
	m.Subscribe("", func(_ context.Context, ev bus.Envelope) error {
		all = append(all, ev.DetailType)
		return errors.New("target down")
	})
	in := bustest.Entries(4) // Submitted, Verified, Submitted, Verified
	failures, err := m.Put(context.Background(), in)
	if err != nil || len(failures) != 0 {
		t.Fatalf("Put = %v, %v; a failing target must not fail the put", failures, err)
	}
	if len(submitted) != 2 || submitted[0] != in[0].Detail || submitted[1] != in[2].Detail {
		t.Errorf("Role Submitted subscriber got %q", submitted)
	}
	if strings.Join(all, ",") != "Role Submitted,Role Verified,Role Submitted,Role Verified" {
		t.Errorf("catch-all subscriber got %q", all)
	}
	if n := rec.Count("bus target failed"); n != 4 {
		t.Errorf("logged %d target failures, want 4:\n%s", n, logs.String())
	}
}

func TestMemoryEnvelope(t *testing.T) {
	m := bus.NewMemory()
	m.Account, m.Region = "111122223333", "eu-west-1"
	e := bustest.Entries(1)[0]
	e.Time = time.Date(2025, 3, 1, 12, 0, 0, 999_000_000, time.FixedZone("x", 3600))
	if _, err := m.Put(context.Background(), []bus.Entry{e}); err != nil {
		t.Fatal(err)
	}
	envs, _ := m.Since("", 0)
	got := envs[0]
	if got.Version != "0" || got.Account != "111122223333" || got.Region != "eu-west-1" || got.Source != e.Source ||
		got.DetailType != e.DetailType || !got.Time.Equal(time.Date(2025, 3, 1, 11, 0, 0, 0, time.UTC)) || len(got.ID) != 36 {
		t.Errorf("envelope = %+v", got)
	}
	b, _ := json.Marshal(got)
	for _, key := range []string{`"detail-type":"Role Submitted"`, `"detail":{"eventId":"evt-00","n":0}`, `"resources":["arn:aws:iam::123456789000:role/r0"]`} {
		if !bytes.Contains(b, []byte(key)) {
			t.Errorf("envelope JSON %s lacks %s", b, key)
		}
	}
}

func TestMemorySince(t *testing.T) {
	m := bus.NewMemory()
	if _, err := m.Put(context.Background(), bustest.Entries(5)); err != nil {
		t.Fatal(err)
	}
	all, _ := m.Since("", 0)
	ids := func(envs []bus.Envelope) string { return strings.Join(bustest.EventIDs(envs), ",") }
	tests := []struct {
		name  string
		after string
		limit int
		want  string
		err   error
	}{
		{"from the start", "", 0, "evt-00,evt-01,evt-02,evt-03,evt-04", nil},
		{"after a detail eventId", "evt-02", 0, "evt-03,evt-04", nil},
		{"after an envelope id", all[0].ID, 2, "evt-01,evt-02", nil},
		{"after the last", "evt-04", 0, "", nil},
		{"limited", "", 1, "evt-00", nil},
		{"unknown id", "evt-99", 0, "", bus.ErrUnknownCursor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := m.Since(tt.after, tt.limit)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Since(%q) error = %v, want %v", tt.after, err, tt.err)
			}
			if ids(got) != tt.want {
				t.Errorf("Since(%q, %d) = %s, want %s", tt.after, tt.limit, ids(got), tt.want)
			}
		})
	}
}

func TestMemoryChanged(t *testing.T) {
	m := bus.NewMemory()
	ch := m.Changed()
	select {
	case <-ch:
		t.Fatal("Changed closed before any put")
	default:
	}
	bus.Reject(m, func(bus.Entry) string { return "InvalidArgument" })
	_, _ = m.Put(context.Background(), bustest.Entries(1))
	select {
	case <-ch:
		t.Fatal("Changed closed by a put that recorded nothing")
	default:
	}
	bus.Reject(m, nil)
	_, _ = m.Put(context.Background(), bustest.Entries(1))
	select { // Put closes it before it returns
	case <-ch:
	default:
		t.Fatal("Changed not closed by a put that recorded entries")
	}
}

func TestMemoryRefusesInvalidEntries(t *testing.T) {
	m := bus.NewMemory()
	good := bustest.Entries(1)[0]
	noSource, badDetail := good, good
	noSource.Source = ""
	badDetail.Detail = "{not json"
	failures, err := m.Put(context.Background(), []bus.Entry{noSource, good, badDetail})
	if err != nil {
		t.Fatal(err)
	}
	if len(failures) != 2 || failures[0].Index != 0 || failures[1].Index != 2 || failures[0].Code != "InvalidArgument" {
		t.Fatalf("failures = %+v", failures)
	}
}

func TestFailureRetryable(t *testing.T) {
	tests := map[string]bool{
		"InternalFailure": true, "ThrottlingException": true,
		"InvalidArgument": false, "MalformedDetail": false, "AccessDeniedException": false, "": false,
	}
	for code, want := range tests {
		if got := (bus.Failure{Code: code}).Retryable(); got != want {
			t.Errorf("Failure{%q}.Retryable() = %v, want %v", code, got, want)
		}
	}
}

func TestMemoryKeepsAnAssignedID(t *testing.T) {
	m := bus.NewMemory()
	in := bustest.Entries(2)
	in[0].ID = "7f1c0d4e-0000-4000-8000-000000000001"
	if _, err := m.Put(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	envs, _ := m.Since("", 0)
	if envs[0].ID != in[0].ID || envs[1].ID == "" || envs[1].ID == in[0].ID {
		t.Errorf("envelope ids %q, %q; want the assigned one, then a fresh one", envs[0].ID, envs[1].ID)
	}
}
