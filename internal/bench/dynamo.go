package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/rolecall/rolecall/internal/store"
)

// ddbCounter counts the DynamoDB requests a client makes (attempts, per
// operation), the capacity DynamoDB reports for them (it asks for it on
// every request, with the per-index share) and the items reads return.
// It is the approach of the store's request tests, as SDK middleware.
type ddbCounter struct {
	mu    sync.Mutex
	ops   map[string]int
	units float64            // total capacity units
	table float64            // of which the table's
	gsi   map[string]float64 // and each index's
	items int                // items returned by GetItem, Query and BatchGetItem
}

func newDDBCounter() *ddbCounter {
	return &ddbCounter{ops: map[string]int{}, gsi: map[string]float64{}}
}

// snapshot is the counter's state at one moment.
type ddbSnapshot struct {
	ops   map[string]int
	units float64
	table float64
	gsi   map[string]float64
	items int
}

func (c *ddbCounter) snapshot() ddbSnapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := ddbSnapshot{ops: map[string]int{}, gsi: map[string]float64{}, units: c.units, table: c.table, items: c.items}
	for k, v := range c.ops {
		s.ops[k] = v
	}
	for k, v := range c.gsi {
		s.gsi[k] = v
	}
	return s
}

// since is what was counted between earlier and s.
func (s ddbSnapshot) since(earlier ddbSnapshot) ddbSnapshot {
	d := ddbSnapshot{ops: map[string]int{}, gsi: map[string]float64{},
		units: s.units - earlier.units, table: s.table - earlier.table, items: s.items - earlier.items}
	for k, v := range s.ops {
		if n := v - earlier.ops[k]; n != 0 {
			d.ops[k] = n
		}
	}
	for k, v := range s.gsi {
		if n := v - earlier.gsi[k]; n != 0 {
			d.gsi[k] = n
		}
	}
	return d
}

func (s ddbSnapshot) requests() int {
	n := 0
	for _, v := range s.ops {
		n += v
	}
	return n
}

// per renders the requests per operation divided by n: "1 UpdateItem".
func (s ddbSnapshot) per(n int) string {
	var parts []string
	for op, v := range s.ops {
		parts = append(parts, trim(float64(v)/float64(n))+" "+op)
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " + ")
}

// capacity renders the capacity units divided by n, with the index share.
func (s ddbSnapshot) capacity(n int) string {
	out := trim(s.units/float64(n)) + " CU"
	var idx []string
	for name, u := range s.gsi {
		idx = append(idx, fmt.Sprintf("%s %s", name, trim(u/float64(n))))
	}
	sort.Strings(idx)
	if len(idx) > 0 {
		out += " (table " + trim(s.table/float64(n)) + ", index " + strings.Join(idx, ", ") + ")"
	}
	return out
}

func (c *ddbCounter) middleware(stack *middleware.Stack) error {
	if err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("benchAskCapacity",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			const idx = ddbtypes.ReturnConsumedCapacityIndexes
			switch p := in.Parameters.(type) {
			case *dynamodb.GetItemInput:
				p.ReturnConsumedCapacity = idx
			case *dynamodb.PutItemInput:
				p.ReturnConsumedCapacity = idx
			case *dynamodb.UpdateItemInput:
				p.ReturnConsumedCapacity = idx
			case *dynamodb.QueryInput:
				p.ReturnConsumedCapacity = idx
			case *dynamodb.BatchGetItemInput:
				p.ReturnConsumedCapacity = idx
			case *dynamodb.BatchWriteItemInput:
				p.ReturnConsumedCapacity = idx
			case *dynamodb.TransactWriteItemsInput:
				p.ReturnConsumedCapacity = idx
			}
			return next.HandleInitialize(ctx, in)
		}), middleware.Before); err != nil {
		return err
	}
	// Deserialize runs once per attempt, inside the retry loop: this
	// counts HTTP requests, not calls.
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("benchCountRequests",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleDeserialize(ctx, in)
			var cc []ddbtypes.ConsumedCapacity
			items := 0
			one := func(c *ddbtypes.ConsumedCapacity) {
				if c != nil {
					cc = append(cc, *c)
				}
			}
			switch r := out.Result.(type) {
			case *dynamodb.GetItemOutput:
				one(r.ConsumedCapacity)
				if len(r.Item) > 0 {
					items = 1
				}
			case *dynamodb.PutItemOutput:
				one(r.ConsumedCapacity)
			case *dynamodb.UpdateItemOutput:
				one(r.ConsumedCapacity)
			case *dynamodb.QueryOutput:
				one(r.ConsumedCapacity)
				items = int(r.ScannedCount)
			case *dynamodb.BatchGetItemOutput:
				cc = append(cc, r.ConsumedCapacity...)
				for _, v := range r.Responses {
					items += len(v)
				}
			case *dynamodb.BatchWriteItemOutput:
				cc = append(cc, r.ConsumedCapacity...)
			case *dynamodb.TransactWriteItemsOutput:
				cc = append(cc, r.ConsumedCapacity...)
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			c.ops[awsmiddleware.GetOperationName(ctx)]++
			c.items += items
			for _, x := range cc {
				c.units += aws.ToFloat64(x.CapacityUnits)
				if x.Table != nil {
					c.table += aws.ToFloat64(x.Table.CapacityUnits)
				}
				for name, g := range x.GlobalSecondaryIndexes {
					c.gsi[name] += aws.ToFloat64(g.CapacityUnits)
				}
			}
			return out, md, err
		}), middleware.Before)
}

// dynamoClient returns a client of DynamoDB Local at endpoint; with a
// counter, every request is counted.
func dynamoClient(endpoint string, c *ddbCounter) *dynamodb.Client {
	o := dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	}
	if c != nil {
		o.APIOptions = append(o.APIOptions, c.middleware)
	}
	return dynamodb.New(o)
}

// newTable creates a uniquely named table as the store defines it; drop
// deletes it.
func newTable(ctx context.Context, client *dynamodb.Client, prefix string) (name string, drop func(), err error) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name = prefix + "-" + hex.EncodeToString(b[:])
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := store.CreateTable(cctx, client, name); err != nil {
		return "", nil, err
	}
	return name, func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	}, nil
}
