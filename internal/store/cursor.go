package store

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Cursors are the base64url JSON of the key attributes of the last item
// returned (DynamoDB's LastEvaluatedKey), all strings in this table.

func encodeCursor(item map[string]ddbtypes.AttributeValue, attrs []string) string {
	k := make(map[string]string, len(attrs))
	for _, a := range attrs {
		if s, ok := item[a].(*ddbtypes.AttributeValueMemberS); ok {
			k[a] = s.Value
		}
	}
	b, _ := json.Marshal(k) // a map of strings always marshals
	return base64.RawURLEncoding.EncodeToString(b)
}

// maxKeyBytes is the most bytes DynamoDB takes in a sort key attribute (a
// partition key takes 2048): a start key with a longer one fails the query
// (ValidationException), so such a cursor is no cursor of ours.
const maxKeyBytes = 1024

// decodeCursor returns the start key of cursor, which must hold exactly
// attrs, none longer than maxKeyBytes, and pass ok.
func decodeCursor(cursor string, attrs []string, ok func(map[string]string) bool) (map[string]ddbtypes.AttributeValue, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, fmt.Errorf("decode cursor: %w", ErrInvalidCursor)
	}
	var k map[string]string
	if err := json.Unmarshal(b, &k); err != nil || len(k) != len(attrs) {
		return nil, fmt.Errorf("decode cursor: %w", ErrInvalidCursor)
	}
	out := make(map[string]ddbtypes.AttributeValue, len(attrs))
	for _, a := range attrs {
		v, present := k[a]
		if !present || v == "" || len(v) > maxKeyBytes {
			return nil, fmt.Errorf("decode cursor: %w", ErrInvalidCursor)
		}
		out[a] = &ddbtypes.AttributeValueMemberS{Value: v}
	}
	if !ok(k) {
		return nil, fmt.Errorf("cursor of another listing: %w", ErrInvalidCursor)
	}
	return out, nil
}

// memoryPage pages the items of one of Memory's listings in key order.
// Its cursors are prefix+key of the last item returned: the keys of one
// listing share the prefix, so a cursor of another listing is refused.
func memoryPage[T any](cursor, prefix string, limit int, items []T, key func(T) string) ([]T, string, error) {
	after, err := cursorAfter(cursor, prefix)
	if err != nil {
		return nil, "", err
	}
	if cursor != "" {
		items = slices.DeleteFunc(items, func(it T) bool { return key(it) <= after })
	}
	slices.SortFunc(items, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
	limit = clampLimit(limit)
	if len(items) <= limit {
		return items, "", nil
	}
	items = items[:limit]
	return items, memoryCursor(prefix + key(items[limit-1])), nil
}

// cursorAfter reads a Memory cursor of the listing whose keys start with
// prefix: the key of the last item returned ("" for the first page).
func cursorAfter(cursor, prefix string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || !strings.HasPrefix(string(b), prefix) || len(b) == len(prefix) {
		return "", ErrInvalidCursor
	}
	return string(b[len(prefix):]), nil
}

func memoryCursor(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }
