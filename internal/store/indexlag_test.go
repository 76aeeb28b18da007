package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/store/storetest"
)

// lagClient runs hook before its first BatchGetItem: a write landing
// between ListByStatus's read of the byStatus index and its reads of the
// items, as the index's replication lag lets happen at any time in AWS
// (DynamoDB Local updates its indexes at once).
type lagClient struct {
	*dynamodb.Client
	once sync.Once
	hook func()
}

func (c *lagClient) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	c.once.Do(c.hook)
	return c.Client.BatchGetItem(ctx, in, optFns...)
}

// TestListByStatusReadsOnPastChangedItems: a page whose indexed items
// changed status before they were read is filled from the index's next
// entries, so a page is short or empty only at the end, as Memory's are
// (a client paging until an empty page would stop early otherwise).
func TestListByStatusReadsOnPastChangedItems(t *testing.T) {
	for _, limit := range []int{1, 2} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			client := storetest.LocalClient(t)
			lc := &lagClient{Client: client}
			s := store.NewDynamoDB(lc, storetest.NewTable(t, client))
			f := storetest.NewFixture(t, s)
			accounts := []string{"111111111111", "222222222222", "333333333333", "444444444444"}
			for _, a := range accounts {
				f.MustSubmit("acme", "arn:aws:iam::"+a+":role/R")
			}
			// The first entries of the index verify meanwhile.
			lc.hook = func() {
				for _, a := range accounts[:limit] {
					f.MustCheck("acme", a, connection.ResultOK)
				}
			}
			var listed []string
			cursor := ""
			for page := 0; ; page++ {
				p, err := s.ListByStatus(f.Ctx, connection.Pending, cursor, limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Items) < limit && p.Cursor != "" {
					t.Fatalf("page %d: %d items with a cursor, want %d", page, len(p.Items), limit)
				}
				for _, c := range p.Items {
					listed = append(listed, c.AccountID)
				}
				if cursor = p.Cursor; cursor == "" {
					break
				}
			}
			if fmt.Sprint(listed) != fmt.Sprint(accounts[limit:]) {
				t.Fatalf("listed %v, want the still pending %v", listed, accounts[limit:])
			}
		})
	}
}
