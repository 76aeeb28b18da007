package store

import (
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/rolecall/rolecall/internal/connection"
)

// EventFromStreamImage decodes the NewImage of a stream record, as the
// publish Lambda receives it, into the event to put on the bus.
func EventFromStreamImage(img map[string]events.DynamoDBAttributeValue) (connection.Event, error) {
	item, err := fromStreamImage(img)
	if err != nil {
		return connection.Event{}, fmt.Errorf("decode stream image: %w", err)
	}
	return EventFromItem(item)
}

// fromStreamImage converts a stream image as the Lambda event carries it
// into the SDK's attribute values through the DynamoDB JSON both speak:
// the Lambda type encodes to it and the SDK decodes it, so neither side's
// set of types is written out here.
func fromStreamImage(img map[string]events.DynamoDBAttributeValue) (map[string]ddbtypes.AttributeValue, error) {
	b, err := json.Marshal(img)
	if err != nil {
		return nil, err
	}
	return attributevalue.UnmarshalMapJSON(b)
}

// LambdaImage converts an image of a stream record as the DynamoDB Streams
// API returns it (Keys, NewImage, OldImage) into the image the publish
// Lambda receives in its event, for what feeds the stream to the handler
// outside Lambda. A nil image stays nil. It converts each type itself: the
// SDK's way there (to the DynamoDB API's values, then through JSON) can
// fail, and the stream emulator that calls this has no error to report.
func LambdaImage(m map[string]streamtypes.AttributeValue) map[string]events.DynamoDBAttributeValue {
	if m == nil {
		return nil
	}
	out := make(map[string]events.DynamoDBAttributeValue, len(m))
	for k, v := range m {
		out[k] = lambdaValue(v)
	}
	return out
}

func lambdaValue(v streamtypes.AttributeValue) events.DynamoDBAttributeValue {
	switch v := v.(type) {
	case *streamtypes.AttributeValueMemberS:
		return events.NewStringAttribute(v.Value)
	case *streamtypes.AttributeValueMemberN:
		return events.NewNumberAttribute(v.Value)
	case *streamtypes.AttributeValueMemberB:
		return events.NewBinaryAttribute(v.Value)
	case *streamtypes.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(v.Value)
	case *streamtypes.AttributeValueMemberNULL:
		return events.NewNullAttribute()
	case *streamtypes.AttributeValueMemberSS:
		return events.NewStringSetAttribute(v.Value)
	case *streamtypes.AttributeValueMemberNS:
		return events.NewNumberSetAttribute(v.Value)
	case *streamtypes.AttributeValueMemberBS:
		return events.NewBinarySetAttribute(v.Value)
	case *streamtypes.AttributeValueMemberL:
		l := make([]events.DynamoDBAttributeValue, len(v.Value))
		for i, e := range v.Value {
			l[i] = lambdaValue(e)
		}
		return events.NewListAttribute(l)
	case *streamtypes.AttributeValueMemberM:
		return events.NewMapAttribute(LambdaImage(v.Value))
	}
	return events.NewNullAttribute()
}
