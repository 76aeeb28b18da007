// Package ddbmeter is a meter of DynamoDB requests and consumed capacity,
// as SDK middleware: added to a DynamoDB client's APIOptions, it asks
// DynamoDB to report the capacity of every request (with the per-index
// share, ReturnConsumedCapacity=INDEXES) and counts, per HTTP attempt, the
// requests per operation, the capacity units reported and the items reads
// return. The store's request tests and the benchmarks read it and keep
// their own summaries on top.
package ddbmeter

import (
	"context"
	"maps"
	"reflect"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
)

// Meter counts the DynamoDB requests of the clients it is added to. It is
// safe for concurrent use. Add it with Middleware; a client takes one
// Meter.
type Meter struct {
	mu sync.Mutex
	r  Reading
}

// New returns a Meter that has counted nothing.
func New() *Meter {
	return &Meter{r: Reading{Ops: map[string]int{}, GSI: map[string]float64{}}}
}

// Reading is what a Meter counted up to one moment (or, from Since,
// between two).
type Reading struct {
	// Ops is the number of HTTP requests per API operation ("UpdateItem"):
	// a call retried twice is three requests.
	Ops map[string]int
	// Units is the total capacity units DynamoDB reported; Table is the
	// table's share of it and GSI each global secondary index's.
	Units, Table float64
	GSI          map[string]float64
	// Items is the items reads returned: 1 for a GetItem that found its
	// item, the ScannedCount of a Query, the items of a BatchGetItem.
	Items int
}

// Read returns what m has counted so far.
func (m *Meter) Read() Reading {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.r
	r.Ops = maps.Clone(m.r.Ops)
	r.GSI = maps.Clone(m.r.GSI)
	return r
}

// Since is what was counted between earlier and r; operations and indexes
// with nothing counted in between are left out.
func (r Reading) Since(earlier Reading) Reading {
	d := Reading{Ops: map[string]int{}, GSI: map[string]float64{},
		Units: r.Units - earlier.Units, Table: r.Table - earlier.Table, Items: r.Items - earlier.Items}
	for k, v := range r.Ops {
		if n := v - earlier.Ops[k]; n != 0 {
			d.Ops[k] = n
		}
	}
	for k, v := range r.GSI {
		if n := v - earlier.GSI[k]; n != 0 {
			d.GSI[k] = n
		}
	}
	return d
}

// Requests is the number of HTTP requests of every operation.
func (r Reading) Requests() int {
	n := 0
	for _, v := range r.Ops {
		n += v
	}
	return n
}

// Middleware adds the meter to a client's middleware stack; use it as an
// entry of dynamodb.Options.APIOptions.
func (m *Meter) Middleware(stack *middleware.Stack) error {
	if err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("ddbmeterAskCapacity", askCapacity), middleware.Before); err != nil {
		return err
	}
	// Deserialize runs once per attempt, inside the retry loop: this
	// counts HTTP requests, not calls.
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("ddbmeterCount",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleDeserialize(ctx, in)
			m.count(awsmiddleware.GetOperationName(ctx), out.Result)
			return out, md, err
		}), middleware.Before)
}

// askCapacity asks DynamoDB for the consumed capacity, with the per-index
// share, on every request that can report it (every such input has a
// ReturnConsumedCapacity field). count reads it from the answers of the
// operations the store uses; an operation the store starts using needs a
// case there.
func askCapacity(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	if v := reflect.ValueOf(in.Parameters); v.Kind() == reflect.Pointer && !v.IsNil() && v.Elem().Kind() == reflect.Struct {
		if f := v.Elem().FieldByName("ReturnConsumedCapacity"); f.CanSet() && f.Type() == capacityIndexes.Type() {
			f.Set(capacityIndexes)
		}
	}
	return next.HandleInitialize(ctx, in)
}

var capacityIndexes = reflect.ValueOf(ddbtypes.ReturnConsumedCapacityIndexes)

// count adds one request of op, whose result (nil when the attempt
// failed) is result.
func (m *Meter) count(op string, result any) {
	var cc []ddbtypes.ConsumedCapacity
	items := 0
	one := func(c *ddbtypes.ConsumedCapacity) {
		if c != nil {
			cc = append(cc, *c)
		}
	}
	switch r := result.(type) {
	case *dynamodb.GetItemOutput:
		one(r.ConsumedCapacity)
		if len(r.Item) > 0 {
			items = 1
		}
	case *dynamodb.PutItemOutput:
		one(r.ConsumedCapacity)
	case *dynamodb.UpdateItemOutput:
		one(r.ConsumedCapacity)
	case *dynamodb.DeleteItemOutput:
		one(r.ConsumedCapacity)
	case *dynamodb.QueryOutput:
		one(r.ConsumedCapacity)
		items = int(r.ScannedCount)
	case *dynamodb.ScanOutput:
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
	m.mu.Lock()
	defer m.mu.Unlock()
	m.r.Ops[op]++
	m.r.Items += items
	for _, x := range cc {
		m.r.Units += aws.ToFloat64(x.CapacityUnits)
		if x.Table != nil {
			m.r.Table += aws.ToFloat64(x.Table.CapacityUnits)
		}
		for name, g := range x.GlobalSecondaryIndexes {
			m.r.GSI[name] += aws.ToFloat64(g.CapacityUnits)
		}
	}
}
