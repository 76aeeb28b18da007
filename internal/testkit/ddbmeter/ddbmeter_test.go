package ddbmeter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/rolecall/rolecall/internal/testkit/ddbmeter"
)

// reply is one HTTP response of the fake DynamoDB.
type reply struct {
	status int
	body   string
}

// fakeDynamoDB answers the requests it gets with replies, in order, and
// records each request's operation and body.
type fakeDynamoDB struct {
	mu      sync.Mutex
	replies []reply
	ops     []string
	bodies  []map[string]any
}

func (f *fakeDynamoDB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(b, &body)
	f.mu.Lock()
	f.ops = append(f.ops, strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810."))
	f.bodies = append(f.bodies, body)
	rep := reply{http.StatusInternalServerError, `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"no reply left"}`}
	if len(f.replies) > 0 {
		rep, f.replies = f.replies[0], f.replies[1:]
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

// server starts a fake DynamoDB on 127.0.0.1.
func server(t *testing.T, f *fakeDynamoDB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: f}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

const serverError = `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"try again"}`

func TestMeterCountsRequestsAndCapacity(t *testing.T) {
	key := map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "a"}, "sk": &ddbtypes.AttributeValueMemberS{Value: "b"}}
	put := func(pk string) ddbtypes.TransactWriteItem {
		return ddbtypes.TransactWriteItem{Put: &ddbtypes.Put{TableName: aws.String("t"),
			Item: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: pk}, "sk": &ddbtypes.AttributeValueMemberS{Value: "x"}}}}
	}
	tests := []struct {
		name    string
		call    func(ctx context.Context, c *dynamodb.Client) error
		replies []reply
		want    ddbmeter.Reading
	}{
		{"UpdateItem with an index share",
			func(ctx context.Context, c *dynamodb.Client) error {
				_, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("t"), Key: key, UpdateExpression: aws.String("SET v = :v"),
					ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":v": &ddbtypes.AttributeValueMemberN{Value: "1"}}})
				return err
			},
			[]reply{{200, `{"ConsumedCapacity":{"TableName":"t","CapacityUnits":3,"Table":{"CapacityUnits":2},"GlobalSecondaryIndexes":{"due":{"CapacityUnits":1}}}}`}},
			ddbmeter.Reading{Ops: map[string]int{"UpdateItem": 1}, Units: 3, Table: 2, GSI: map[string]float64{"due": 1}}},
		{"TransactWriteItems of two items",
			func(ctx context.Context, c *dynamodb.Client) error {
				_, err := c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{put("a"), put("b")}})
				return err
			},
			[]reply{{200, `{"ConsumedCapacity":[{"TableName":"t","CapacityUnits":4,"Table":{"CapacityUnits":2},"GlobalSecondaryIndexes":{"due":{"CapacityUnits":2}}},{"TableName":"u","CapacityUnits":2,"Table":{"CapacityUnits":2}}]}`}},
			ddbmeter.Reading{Ops: map[string]int{"TransactWriteItems": 1}, Units: 6, Table: 4, GSI: map[string]float64{"due": 2}}},
		{"UpdateItem retried twice: three requests, capacity of the one that succeeded",
			func(ctx context.Context, c *dynamodb.Client) error {
				_, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("t"), Key: key, UpdateExpression: aws.String("REMOVE v")})
				return err
			},
			[]reply{{500, serverError}, {500, serverError}, {200, `{"ConsumedCapacity":{"TableName":"t","CapacityUnits":1,"Table":{"CapacityUnits":1}}}`}},
			ddbmeter.Reading{Ops: map[string]int{"UpdateItem": 3}, Units: 1, Table: 1, GSI: map[string]float64{}}},
		{"Query counts the items it scanned",
			func(ctx context.Context, c *dynamodb.Client) error {
				_, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("t"), IndexName: aws.String("due"), KeyConditionExpression: aws.String("pk = :p"),
					ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":p": &ddbtypes.AttributeValueMemberS{Value: "a"}}})
				return err
			},
			[]reply{{200, `{"Count":1,"ScannedCount":3,"Items":[{"pk":{"S":"a"}}],"ConsumedCapacity":{"TableName":"t","CapacityUnits":0.5,"GlobalSecondaryIndexes":{"due":{"CapacityUnits":0.5}}}}`}},
			ddbmeter.Reading{Ops: map[string]int{"Query": 1}, Units: 0.5, GSI: map[string]float64{"due": 0.5}, Items: 3}},
		{"GetItem of a missing item reads none",
			func(ctx context.Context, c *dynamodb.Client) error {
				_, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("t"), Key: key})
				return err
			},
			[]reply{{200, `{"ConsumedCapacity":{"TableName":"t","CapacityUnits":0.5,"Table":{"CapacityUnits":0.5}}}`}},
			ddbmeter.Reading{Ops: map[string]int{"GetItem": 1}, Units: 0.5, Table: 0.5, GSI: map[string]float64{}}},
		{"BatchGetItem counts the items of every table",
			func(ctx context.Context, c *dynamodb.Client) error {
				_, err := c.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]ddbtypes.KeysAndAttributes{"t": {Keys: []map[string]ddbtypes.AttributeValue{key}}}})
				return err
			},
			[]reply{{200, `{"Responses":{"t":[{"pk":{"S":"a"}},{"pk":{"S":"b"}}],"u":[{"pk":{"S":"c"}}]},"ConsumedCapacity":[{"TableName":"t","CapacityUnits":1},{"TableName":"u","CapacityUnits":0.5}]}`}},
			ddbmeter.Reading{Ops: map[string]int{"BatchGetItem": 1}, Units: 1.5, GSI: map[string]float64{}, Items: 3}},
		{"DeleteItem",
			func(ctx context.Context, c *dynamodb.Client) error {
				_, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("t"), Key: key})
				return err
			},
			[]reply{{200, `{"ConsumedCapacity":{"TableName":"t","CapacityUnits":2,"Table":{"CapacityUnits":1},"GlobalSecondaryIndexes":{"due":{"CapacityUnits":1}}}}`}},
			ddbmeter.Reading{Ops: map[string]int{"DeleteItem": 1}, Units: 2, Table: 1, GSI: map[string]float64{"due": 1}}},
		{"Scan counts the items it scanned",
			func(ctx context.Context, c *dynamodb.Client) error {
				_, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("t")})
				return err
			},
			[]reply{{200, `{"Count":0,"ScannedCount":4,"Items":[],"ConsumedCapacity":{"TableName":"t","CapacityUnits":1.5,"Table":{"CapacityUnits":1.5}}}`}},
			ddbmeter.Reading{Ops: map[string]int{"Scan": 1}, Units: 1.5, Table: 1.5, GSI: map[string]float64{}, Items: 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeDynamoDB{replies: tc.replies}
			m := ddbmeter.New()
			client := dynamodb.New(dynamodb.Options{
				Region:       "us-east-1",
				BaseEndpoint: aws.String(server(t, fake)),
				Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
				Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
					o.MaxAttempts = 3
					o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
				}),
				APIOptions: []func(*middleware.Stack) error{m.Middleware},
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := tc.call(ctx, client); err != nil {
				t.Fatalf("call: %v", err)
			}
			got := m.Read()
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("reading %+v, want %+v", got, tc.want)
			}
			if n := got.Requests(); n != len(fake.ops) {
				t.Errorf("%d requests counted, the server got %d", n, len(fake.ops))
			}
			for i, b := range fake.bodies {
				if rcc := fmt.Sprint(b["ReturnConsumedCapacity"]); rcc != "INDEXES" {
					t.Errorf("request %d (%s): ReturnConsumedCapacity %q, want INDEXES", i, fake.ops[i], rcc)
				}
			}
		})
	}
}

func TestReadingSince(t *testing.T) {
	tests := []struct {
		name         string
		earlier, now ddbmeter.Reading
		want         ddbmeter.Reading
		requests     int
	}{
		{"from nothing",
			ddbmeter.Reading{},
			ddbmeter.Reading{Ops: map[string]int{"GetItem": 2, "Query": 1}, Units: 2, Table: 1.5, GSI: map[string]float64{"due": 0.5}, Items: 4},
			ddbmeter.Reading{Ops: map[string]int{"GetItem": 2, "Query": 1}, Units: 2, Table: 1.5, GSI: map[string]float64{"due": 0.5}, Items: 4},
			3},
		{"unchanged operations and indexes are left out",
			ddbmeter.Reading{Ops: map[string]int{"GetItem": 2, "Query": 1}, Units: 2, Table: 1.5, GSI: map[string]float64{"due": 0.5, "status": 1}, Items: 4},
			ddbmeter.Reading{Ops: map[string]int{"GetItem": 2, "Query": 1, "UpdateItem": 3}, Units: 5, Table: 3.5, GSI: map[string]float64{"due": 1.5, "status": 1}, Items: 4},
			ddbmeter.Reading{Ops: map[string]int{"UpdateItem": 3}, Units: 3, Table: 2, GSI: map[string]float64{"due": 1}},
			3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.now.Since(tc.earlier)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("since %+v, want %+v", got, tc.want)
			}
			if n := got.Requests(); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
		})
	}
}
