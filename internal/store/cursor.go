package store

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

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

// decodeCursor returns the start key of cursor, which must hold exactly
// attrs and pass ok.
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
		if !present || v == "" {
			return nil, fmt.Errorf("decode cursor: %w", ErrInvalidCursor)
		}
		out[a] = &ddbtypes.AttributeValueMemberS{Value: v}
	}
	if !ok(k) {
		return nil, fmt.Errorf("cursor of another listing: %w", ErrInvalidCursor)
	}
	return out, nil
}
