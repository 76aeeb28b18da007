package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rolecall/rolecall/internal/batch"
)

// BatchGetItem reads: at most 100 keys a call (DynamoDB's limit). The keys
// DynamoDB leaves unprocessed (throttling, the 16 MB answer limit) are
// asked again with doubling backoff, at most batchGetAttempts times in all
// (7 waits, 10 ms doubling to 640 ms: 1.27 s), so a table that keeps throttling
// ends the listing with an error instead of holding it until its context
// ends.
const (
	batchGetSize     = 100
	batchGetAttempts = 8
	batchGetBackoff  = 10 * time.Millisecond
)

// ErrUnprocessed: DynamoDB still left keys of a read unprocessed after
// batchGetAttempts calls.
var ErrUnprocessed = errors.New("keys still unprocessed")

// itemID is the primary key of an item (or of a key) as one string.
func itemID(item map[string]ddbtypes.AttributeValue) string {
	pk, _ := item[AttrPK].(*ddbtypes.AttributeValueMemberS)
	sk, _ := item[AttrSK].(*ddbtypes.AttributeValueMemberS)
	if pk == nil || sk == nil {
		return ""
	}
	return pk.Value + "\x00" + sk.Value
}

// batchGet reads the items of keys (consistently) and returns those that
// exist in the order of keys. The calls and their retries are batch.Send's,
// as the EventBridge and SQS senders': an unprocessed key is a retryable
// refusal of its entry, a failed call (after the SDK's own retries) fails
// the read, and no further call is made: the table is refusing or
// throttling, and the read has failed already.
func (d *DynamoDB) batchGet(ctx context.Context, keys []map[string]ddbtypes.AttributeValue) ([]map[string]ddbtypes.AttributeValue, error) {
	all := make([]int, len(keys))
	for i := range all {
		all[i] = i
	}
	got := make(map[string]map[string]ddbtypes.AttributeValue, len(keys))
	policy := batch.Policy{Size: batchGetSize, Attempts: batchGetAttempts, Backoff: batchGetBackoff, AllOrNothing: true}
	unsent := batch.Send(ctx, all, policy, func(ctx context.Context, idx []int) ([]batch.Failure, error) {
		req := make([]map[string]ddbtypes.AttributeValue, len(idx))
		pos := make(map[string]int, len(idx))
		for k, i := range idx {
			req[k] = map[string]ddbtypes.AttributeValue{AttrPK: keys[i][AttrPK], AttrSK: keys[i][AttrSK]}
			pos[itemID(req[k])] = k
		}
		out, err := d.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]ddbtypes.KeysAndAttributes{
			d.table: {Keys: req, ConsistentRead: aws.Bool(true)},
		}})
		if err != nil {
			return nil, fmt.Errorf("batch get %d items: %w", len(idx), err)
		}
		for _, item := range out.Responses[d.table] {
			got[itemID(item)] = item
		}
		var fs []batch.Failure
		for _, k := range out.UnprocessedKeys[d.table].Keys {
			if at, ok := pos[itemID(k)]; ok {
				fs = append(fs, batch.Failure{Index: at, Retryable: true, Err: ErrUnprocessed})
			}
		}
		return fs, nil
	})
	for _, u := range unsent {
		if !errors.Is(u.Err, ErrUnprocessed) {
			return nil, fmt.Errorf("read %d items: %w", len(keys), u.Err) // a failed call, or ctx's end
		}
	}
	if len(unsent) > 0 {
		return nil, unprocessedError(keys, unsent)
	}
	items := make([]map[string]ddbtypes.AttributeValue, 0, len(keys))
	for _, k := range keys {
		if item, ok := got[itemID(k)]; ok {
			items = append(items, item)
		}
	}
	return items, nil
}

// unprocessedError says which keys of a read could not be read and why,
// naming the first few (table keys: tenant IDs and account IDs, never an
// external ID, since only connection and tenant items are read in
// batches).
func unprocessedError(keys []map[string]ddbtypes.AttributeValue, unsent []batch.Unsent) error {
	const named = 3
	var ids []string
	for _, u := range unsent[:min(len(unsent), named)] {
		ids = append(ids, strings.ReplaceAll(itemID(keys[u.Index]), "\x00", " "))
	}
	more := ""
	if len(unsent) > named {
		more = fmt.Sprintf(" and %d more", len(unsent)-named)
	}
	seen := map[string]bool{}
	var why []error
	for _, u := range unsent {
		if !seen[u.Err.Error()] {
			seen[u.Err.Error()] = true
			why = append(why, u.Err)
		}
	}
	return fmt.Errorf("read %d of %d items failed (%s%s) after up to %d attempts: %w",
		len(unsent), len(keys), strings.Join(ids, ", "), more, batchGetAttempts, errors.Join(why...))
}
