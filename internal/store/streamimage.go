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
// outside Lambda. A nil image stays nil.
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

// lambdaValue converts v as fromStreamImage does the other way, through
// DynamoDB JSON: the SDK converts the Streams value to the DynamoDB API's
// and encodes it, the Lambda type decodes it. A value the SDK cannot
// convert (a type newer than it) makes the top-level attribute holding it
// NULL, so that the rest of the image still reaches the handler, which
// refuses an event it cannot read.
func lambdaValue(v streamtypes.AttributeValue) events.DynamoDBAttributeValue {
	var out events.DynamoDBAttributeValue
	var b []byte
	av, err := attributevalue.FromDynamoDBStreams(v)
	if err == nil {
		b, err = attributevalue.MarshalJSON(av)
	}
	if err != nil || json.Unmarshal(b, &out) != nil {
		return events.NewNullAttribute()
	}
	return out
}
