package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// batchGetDB answers BatchGetItem from items; unprocessed[id] is how many
// more calls leave that key unprocessed (-1: every call), fail fails every
// call.
type batchGetDB struct {
	DynamoDBAPI
	items       map[string]map[string]ddbtypes.AttributeValue
	unprocessed map[string]int
	fail        error
	calls       []int // keys asked per call
}

func (f *batchGetDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	ka := in.RequestItems["t"]
	f.calls = append(f.calls, len(ka.Keys))
	if f.fail != nil {
		return nil, f.fail
	}
	out := &dynamodb.BatchGetItemOutput{Responses: map[string][]map[string]ddbtypes.AttributeValue{}}
	var left []map[string]ddbtypes.AttributeValue
	for _, k := range ka.Keys {
		id := itemID(k)
		if n := f.unprocessed[id]; n != 0 {
			if n > 0 {
				f.unprocessed[id] = n - 1
			}
			left = append(left, k)
			continue
		}
		if item, ok := f.items[id]; ok {
			out.Responses["t"] = append(out.Responses["t"], item)
		}
	}
	if len(left) > 0 {
		out.UnprocessedKeys = map[string]ddbtypes.KeysAndAttributes{"t": {Keys: left, ConsistentRead: ka.ConsistentRead}}
	}
	return out, nil
}

func batchKeys(n int) []map[string]ddbtypes.AttributeValue {
	keys := make([]map[string]ddbtypes.AttributeValue, n)
	for i := range keys {
		keys[i] = key(tenantPK(fmt.Sprintf("t%03d", i)), skTenant)
	}
	return keys
}

func TestBatchGet(t *testing.T) {
	const n = 250
	keys := batchKeys(n)
	id := func(i int) string { return itemID(keys[i]) }
	stored := func(skip ...int) map[string]map[string]ddbtypes.AttributeValue {
		items := map[string]map[string]ddbtypes.AttributeValue{}
		for i, k := range keys {
			items[itemID(k)] = map[string]ddbtypes.AttributeValue{AttrPK: k[AttrPK], AttrSK: k[AttrSK], "n": s(fmt.Sprint(i))}
		}
		for _, i := range skip {
			delete(items, id(i))
		}
		return items
	}
	boom := errors.New("boom")
	tests := []struct {
		name        string
		db          batchGetDB
		wantItems   int
		wantCalls   []int
		wantErr     error
		wantInError []string
	}{
		{name: "batches of 100, missing items skipped", db: batchGetDB{items: stored(3, 200)},
			wantItems: n - 2, wantCalls: []int{100, 100, 50}},
		{name: "unprocessed keys asked again until read",
			db:        batchGetDB{items: stored(), unprocessed: map[string]int{id(0): 2, id(150): 1, id(249): 1}},
			wantItems: n, wantCalls: []int{100, 100, 50, 3, 1}},
		{name: "keys left unprocessed for good end in an error after the attempts",
			db:        batchGetDB{items: stored(), unprocessed: map[string]int{id(1): -1, id(7): -1, id(120): -1, id(121): -1}},
			wantCalls: []int{100, 100, 50, 4, 4, 4, 4, 4, 4, 4}, wantErr: ErrUnprocessed,
			wantInError: []string{"read 4 of 250 items failed", "TENANT#t001 TENANT", "TENANT#t120 TENANT", "and 1 more", "8 attempts"}},
		{name: "a failed call fails the read, and no more calls are made", db: batchGetDB{fail: boom},
			wantCalls: []int{100}, wantErr: boom, wantInError: []string{"read 250 items: batch get 100 items"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The backoff between rounds runs on the bubble's clock, so a
			// test of eight rounds takes no real time.
			synctest.Test(t, func(t *testing.T) {
				d := NewDynamoDB(&tc.db, "t")
				items, err := d.batchGet(t.Context(), keys)
				if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				for _, want := range tc.wantInError {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
				if fmt.Sprint(tc.db.calls) != fmt.Sprint(tc.wantCalls) {
					t.Errorf("keys per call = %v, want %v", tc.db.calls, tc.wantCalls)
				}
				if len(items) != tc.wantItems {
					t.Fatalf("%d items, want %d", len(items), tc.wantItems)
				}
				last := -1
				for _, item := range items {
					var i int
					fmt.Sscan(item["n"].(*ddbtypes.AttributeValueMemberS).Value, &i)
					if i <= last {
						t.Fatalf("item %d after %d: not in the order of the keys", i, last)
					}
					last = i
				}
			})
		})
	}
}

func TestBatchGetStopsWhenContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		db := &batchGetDB{unprocessed: map[string]int{}}
		keys := batchKeys(2)
		for _, k := range keys {
			db.unprocessed[itemID(k)] = -1
		}
		done := make(chan error)
		go func() {
			_, err := NewDynamoDB(db, "t").batchGet(ctx, keys)
			done <- err
		}()
		synctest.Wait() // the first call is answered and the backoff is waiting
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if len(db.calls) != 1 {
			t.Fatalf("%d calls, want 1 (none after the context ended)", len(db.calls))
		}
	})
}
