package batch

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
)

// service is a scripted batch API: refuse[i] is how many times entry i is
// refused (retryably unless permanent[i]); callFails fails whole calls.
type service struct {
	refuse    map[int]int
	permanent map[int]bool
	callFails int
	failCall  int  // this call (1 is the first) fails as a whole
	bogus     bool // every answer also names entries outside the call
	calls     [][]int
	cancel    func() // called after the first call when set
}

func (s *service) send(ctx context.Context, idx []int) ([]Failure, error) {
	s.calls = append(s.calls, slices.Clone(idx))
	if s.cancel != nil {
		s.cancel()
	}
	if s.callFails > 0 {
		s.callFails--
		return nil, errors.New("call failed")
	}
	if s.failCall == len(s.calls) {
		return nil, errors.New("call failed")
	}
	var fs []Failure
	if s.bogus {
		fs = append(fs, Failure{Index: -1, Err: errors.New("no such entry")}, Failure{Index: len(idx), Retryable: true, Err: errors.New("no such entry")})
	}
	for k, i := range idx {
		if s.permanent[i] {
			fs = append(fs, Failure{Index: k, Err: fmt.Errorf("entry %d invalid", i)})
		} else if s.refuse[i] > 0 {
			s.refuse[i]--
			fs = append(fs, Failure{Index: k, Retryable: true, Err: fmt.Errorf("entry %d throttled", i)})
		}
	}
	return fs, nil
}

func TestSend(t *testing.T) {
	tests := []struct {
		name       string
		pending    []int
		policy     Policy
		svc        service
		wantUnsent map[int]string // index: its reason
		wantCalls  [][]int
	}{
		{name: "all accepted, split in batches", pending: []int{0, 1, 2, 3, 4}, policy: Policy{Size: 2, Attempts: 3},
			wantCalls: [][]int{{0, 1}, {2, 3}, {4}}},
		{name: "only refused entries are retried, in one round", pending: []int{0, 1, 2, 3}, policy: Policy{Size: 2, Attempts: 3},
			svc:       service{refuse: map[int]int{1: 1, 2: 1}},
			wantCalls: [][]int{{0, 1}, {2, 3}, {1, 2}}},
		{name: "attempts exhausted", pending: []int{0, 1}, policy: Policy{Size: 10, Attempts: 2},
			svc:        service{refuse: map[int]int{1: 5}},
			wantCalls:  [][]int{{0, 1}, {1}},
			wantUnsent: map[int]string{1: "entry 1 throttled"}},
		{name: "permanent refusal is not retried", pending: []int{3, 7}, policy: Policy{Size: 10, Attempts: 3},
			svc:        service{permanent: map[int]bool{7: true}},
			wantCalls:  [][]int{{3, 7}},
			wantUnsent: map[int]string{7: "entry 7 invalid"}},
		{name: "each entry has its own reason", pending: []int{0, 1, 2}, policy: Policy{Size: 10, Attempts: 2},
			svc:        service{refuse: map[int]int{0: 5}, permanent: map[int]bool{2: true}},
			wantCalls:  [][]int{{0, 1, 2}, {0}},
			wantUnsent: map[int]string{0: "entry 0 throttled", 2: "entry 2 invalid"}},
		{name: "failed call fails its entries", pending: []int{0, 1, 2}, policy: Policy{Size: 2, Attempts: 3},
			svc:        service{callFails: 1},
			wantCalls:  [][]int{{0, 1}, {2}},
			wantUnsent: map[int]string{0: "call failed", 1: "call failed"}},
		{name: "failed call ends the rest when AllOrNothing", pending: []int{0, 1, 2, 3, 4}, policy: Policy{Size: 2, Attempts: 3, AllOrNothing: true},
			svc:        service{refuse: map[int]int{0: 1}, failCall: 2},
			wantCalls:  [][]int{{0, 1}, {2, 3}},
			wantUnsent: map[int]string{0: "call failed", 2: "call failed", 3: "call failed", 4: "call failed"}},
		{name: "failed call is retried when RetryCalls", pending: []int{0, 1, 2}, policy: Policy{Size: 2, Attempts: 3, RetryCalls: true},
			svc:       service{callFails: 1},
			wantCalls: [][]int{{0, 1}, {2}, {0, 1}}},
		{name: "failed call on the last attempt fails", pending: []int{0}, policy: Policy{Size: 2, Attempts: 2, RetryCalls: true},
			svc:        service{callFails: 2},
			wantCalls:  [][]int{{0}, {0}},
			wantUnsent: map[int]string{0: "call failed"}},
		{name: "zero size and attempts mean one", pending: []int{0, 1}, policy: Policy{},
			svc:        service{refuse: map[int]int{0: 1}},
			wantCalls:  [][]int{{0}, {1}},
			wantUnsent: map[int]string{0: "entry 0 throttled"}},
		{name: "nothing pending", policy: Policy{Size: 2, Attempts: 3}},
		{name: "failures naming no entry of the call are ignored", pending: []int{0, 1, 2}, policy: Policy{Size: 2, Attempts: 3},
			svc:       service{bogus: true, refuse: map[int]int{2: 1}},
			wantCalls: [][]int{{0, 1}, {2}, {2}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			unsent := Send(context.Background(), tc.pending, tc.policy, tc.svc.send)
			got := map[int]string{}
			for k, u := range unsent {
				if k > 0 && unsent[k-1].Index >= u.Index {
					t.Errorf("unsent not by ascending index: %v", unsent)
				}
				got[u.Index] = fmt.Sprint(u.Err)
			}
			if !maps.Equal(got, tc.wantUnsent) {
				t.Errorf("unsent = %v, want %v", got, tc.wantUnsent)
			}
			if !slices.EqualFunc(tc.svc.calls, tc.wantCalls, slices.Equal[[]int]) {
				t.Errorf("calls = %v, want %v", tc.svc.calls, tc.wantCalls)
			}
		})
	}
}

// TestSendStopsWhenContextEnds: once ctx ends nothing more is sent, and
// each entry not sent says so, with its last refusal when it had one.
func TestSendStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	svc := service{refuse: map[int]int{0: 1}, cancel: cancel}
	unsent := Send(ctx, []int{0, 1, 2}, Policy{Size: 1, Attempts: 5}, svc.send)
	if len(svc.calls) != 1 {
		t.Fatalf("calls after cancel: %v", svc.calls)
	}
	want := []string{
		"not retried before the context ended: context canceled (last refusal: entry 0 throttled)",
		"not sent before the context ended: context canceled",
		"not sent before the context ended: context canceled",
	}
	if len(unsent) != len(want) {
		t.Fatalf("unsent = %v, want all three", unsent)
	}
	for k, u := range unsent {
		if u.Index != k || u.Err.Error() != want[k] || !errors.Is(u.Err, context.Canceled) {
			t.Errorf("unsent[%d] = %d, %v; want %d, %q (a context.Canceled)", k, u.Index, u.Err, k, want[k])
		}
	}
}

func TestOnRetryCountsRounds(t *testing.T) {
	svc := service{refuse: map[int]int{0: 2, 1: 1}}
	var got [][2]int
	p := Policy{Size: 5, Attempts: 5, OnRetry: func(n, round int) { got = append(got, [2]int{n, round}) }}
	if unsent := Send(context.Background(), []int{0, 1}, p, svc.send); unsent != nil {
		t.Fatalf("unsent = %v", unsent)
	}
	if want := [][2]int{{2, 1}, {1, 2}}; !slices.Equal(got, want) {
		t.Fatalf("OnRetry calls = %v, want %v", got, want)
	}
}

func TestSendDoesNotModifyPending(t *testing.T) {
	pending := []int{2, 0, 1}
	svc := service{refuse: map[int]int{0: 1}}
	Send(context.Background(), pending, Policy{Size: 5, Attempts: 3}, svc.send)
	if !slices.Equal(pending, []int{2, 0, 1}) {
		t.Fatalf("pending changed: %v", pending)
	}
}
