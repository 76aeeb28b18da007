package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/testkit/ddbmeter"
)

// perOp renders the requests per operation of r divided by n:
// "1 UpdateItem".
func perOp(r ddbmeter.Reading, n int) string {
	var parts []string
	for op, v := range r.Ops {
		parts = append(parts, trim(float64(v)/float64(n))+" "+op)
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " + ")
}

// capacity renders the capacity units of r divided by n, with the index
// share.
func capacity(r ddbmeter.Reading, n int) string {
	out := trim(r.Units/float64(n)) + " CU"
	var idx []string
	for name, u := range r.GSI {
		idx = append(idx, fmt.Sprintf("%s %s", name, trim(u/float64(n))))
	}
	sort.Strings(idx)
	if len(idx) > 0 {
		out += " (table " + trim(r.Table/float64(n)) + ", index " + strings.Join(idx, ", ") + ")"
	}
	return out
}

// dynamoClient returns a client of DynamoDB Local at endpoint; with a
// meter, every request is counted.
func dynamoClient(endpoint string, m *ddbmeter.Meter) *dynamodb.Client {
	o := dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	}
	if m != nil {
		o.APIOptions = append(o.APIOptions, m.Middleware)
	}
	return dynamodb.New(o)
}

// benchTable is a uniquely named table on DynamoDB Local, as the store
// defines it.
type benchTable struct {
	endpoint, name string
	client         *dynamodb.Client // uncounted
}

// newBenchTable creates a table named prefix and a random suffix; drop
// deletes it.
func newBenchTable(ctx context.Context, endpoint, prefix string) (*benchTable, error) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	t := &benchTable{endpoint: endpoint, name: prefix + "-" + hex.EncodeToString(b[:]), client: dynamoClient(endpoint, nil)}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := store.CreateTable(cctx, t.client, t.name); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *benchTable) drop() {
	_, _ = t.client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(t.name)})
}

// adapter is the store's DynamoDB adapter on the table; with a meter,
// every request it makes is counted.
func (t *benchTable) adapter(m *ddbmeter.Meter) *store.DynamoDB {
	client := t.client
	if m != nil {
		client = dynamoClient(t.endpoint, m)
	}
	return store.NewDynamoDB(client, t.name)
}
