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

	"github.com/rolecall/rolecall/internal/app"
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

// dynamoConfig is the AWS configuration of DynamoDB Local at endpoint;
// with a meter, every request of the clients made from it is counted (the
// meter is an APIOption, as the SDK adds middleware).
func dynamoConfig(endpoint string, m *ddbmeter.Meter) aws.Config {
	cfg := aws.Config{
		Region:       benchRegion,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	}
	if m != nil {
		cfg.APIOptions = append(cfg.APIOptions, m.Middleware)
	}
	return cfg
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
	t := &benchTable{endpoint: endpoint, name: prefix + "-" + hex.EncodeToString(b[:])}
	t.client = app.DynamoDBTable(dynamoConfig(endpoint, nil), t.name).Client
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
	return app.DynamoDBTable(dynamoConfig(t.endpoint, m), t.name).Store
}
