package batch

import (
	"context"
	"errors"
	"fmt"
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
		wantFailed []int
		wantCalls  [][]int
		wantErrs   int
	}{
		{name: "all accepted, split in batches", pending: []int{0, 1, 2, 3, 4}, policy: Policy{Size: 2, Attempts: 3},
			wantCalls: [][]int{{0, 1}, {2, 3}, {4}}},
		{name: "only refused entries are retried, in one round", pending: []int{0, 1, 2, 3}, policy: Policy{Size: 2, Attempts: 3},
			svc:       service{refuse: map[int]int{1: 1, 2: 1}},
			wantCalls: [][]int{{0, 1}, {2, 3}, {1, 2}}},
		{name: "attempts exhausted", pending: []int{0, 1}, policy: Policy{Size: 10, Attempts: 2},
			svc:        service{refuse: map[int]int{1: 5}},
			wantCalls:  [][]int{{0, 1}, {1}},
			wantFailed: []int{1}, wantErrs: 1},
		{name: "permanent refusal is not retried", pending: []int{3, 7}, policy: Policy{Size: 10, Attempts: 3},
			svc:        service{permanent: map[int]bool{7: true}},
			wantCalls:  [][]int{{3, 7}},
			wantFailed: []int{7}, wantErrs: 1},
		{name: "failed call fails its entries", pending: []int{0, 1, 2}, policy: Policy{Size: 2, Attempts: 3},
			svc:        service{callFails: 1},
			wantCalls:  [][]int{{0, 1}, {2}},
			wantFailed: []int{0, 1}, wantErrs: 1},
		{name: "failed call ends the rest when AllOrNothing", pending: []int{0, 1, 2, 3, 4}, policy: Policy{Size: 2, Attempts: 3, AllOrNothing: true},
			svc:        service{refuse: map[int]int{0: 1}, failCall: 2},
			wantCalls:  [][]int{{0, 1}, {2, 3}},
			wantFailed: []int{0, 2, 3, 4}, wantErrs: 3},
		{name: "failed call is retried when RetryCalls", pending: []int{0, 1, 2}, policy: Policy{Size: 2, Attempts: 3, RetryCalls: true},
			svc:       service{callFails: 1},
			wantCalls: [][]int{{0, 1}, {2}, {0, 1}}},
		{name: "failed call on the last attempt fails", pending: []int{0}, policy: Policy{Size: 2, Attempts: 2, RetryCalls: true},
			svc:        service{callFails: 2},
			wantCalls:  [][]int{{0}, {0}},
			wantFailed: []int{0}, wantErrs: 1},
		{name: "zero size and attempts mean one", pending: []int{0, 1}, policy: Policy{},
			svc:        service{refuse: map[int]int{0: 1}},
			wantCalls:  [][]int{{0}, {1}},
			wantFailed: []int{0}, wantErrs: 1},
		{name: "nothing pending", policy: Policy{Size: 2, Attempts: 3}},
		{name: "failures naming no entry of the call are ignored", pending: []int{0, 1, 2}, policy: Policy{Size: 2, Attempts: 3},
			svc:       service{bogus: true, refuse: map[int]int{2: 1}},
			wantCalls: [][]int{{0, 1}, {2}, {2}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			failed, errs := Send(context.Background(), tc.pending, tc.policy, tc.svc.send)
			if !slices.Equal(failed, tc.wantFailed) {
				t.Errorf("failed = %v, want %v", failed, tc.wantFailed)
			}
			if len(errs) != tc.wantErrs {
				t.Errorf("errs = %v, want %d", errs, tc.wantErrs)
			}
			if !slices.EqualFunc(tc.svc.calls, tc.wantCalls, slices.Equal[[]int]) {
				t.Errorf("calls = %v, want %v", tc.svc.calls, tc.wantCalls)
			}
		})
	}
}

func TestSendStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	svc := service{refuse: map[int]int{0: 1}, cancel: cancel}
	failed, errs := Send(ctx, []int{0, 1, 2}, Policy{Size: 1, Attempts: 5}, svc.send)
	if len(svc.calls) != 1 {
		t.Fatalf("calls after cancel: %v", svc.calls)
	}
	if !slices.Equal(failed, []int{0, 1, 2}) {
		t.Fatalf("failed = %v, want all", failed)
	}
	for _, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v is not the context's", err)
		}
	}
}

func TestOnRetryCountsRounds(t *testing.T) {
	svc := service{refuse: map[int]int{0: 2, 1: 1}}
	var got [][2]int
	p := Policy{Size: 5, Attempts: 5, OnRetry: func(n, round int) { got = append(got, [2]int{n, round}) }}
	if failed, _ := Send(context.Background(), []int{0, 1}, p, svc.send); failed != nil {
		t.Fatalf("failed = %v", failed)
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
