package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	"github.com/rolecall/rolecall/internal/store"
)

// EndpointVar names the environment variable holding DynamoDB Local's
// endpoint (.ci/with-dynamodb.sh sets it).
const EndpointVar = "ROLECALL_DYNAMODB_ENDPOINT"

// LocalClient returns a client of DynamoDB Local with apiOptions added to
// its middleware. Without an endpoint the test is skipped, or fails under
// CI, which must run DynamoDB Local.
func LocalClient(t testing.TB, apiOptions ...func(*middleware.Stack) error) *dynamodb.Client {
	t.Helper()
	ep := os.Getenv(EndpointVar)
	if ep == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(EndpointVar + " is not set; CI must run the tests with `make test`")
		}
		t.Skip("DynamoDB Local not running; run `make test`")
	}
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(ep),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		APIOptions:   apiOptions,
		Retryer:      localRetryer(),
	})
}

// localRetryer is the SDK's standard retryer without its client-side retry
// quota, and with more attempts. Under load, DynamoDB Local answers a
// transaction that waited too long for one of its locks with a 500 that
// "will succeed in actual DynamoDB API"; a hundred writers racing for one
// item (the claim race) drain the quota that one client's retries share
// and fail with "retry quota exceeded" instead of the answer DynamoDB
// gives. The quota protects a real service from retry storms; DynamoDB
// Local needs no such protection.
func localRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.RateLimiter = ratelimit.None
		o.MaxAttempts = 8
	})
}

// NewTable creates a uniquely named RoleCall table and deletes it after the
// test.
func NewTable(t testing.TB, client *dynamodb.Client) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "rolecall-test-" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := store.CreateTable(ctx, client, name); err != nil {
		t.Fatalf("create table: %v", err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return name
}

// NewLocalDynamoDB returns the DynamoDB adapter on a new table of DynamoDB
// Local (deleted after the test), with its client and the table's name.
func NewLocalDynamoDB(t testing.TB) (*store.DynamoDB, *dynamodb.Client, string) {
	t.Helper()
	client := LocalClient(t)
	table := NewTable(t, client)
	return store.NewDynamoDB(client, table), client, table
}

// Adapter is a store adapter under test: the same value serves as the
// store and as its registrations.
type Adapter interface {
	store.Store
	store.Registrations
}

// Adapters returns a constructor of each adapter, named: the embedded one,
// and the DynamoDB one on a new table of DynamoDB Local (its constructor
// skips the test, or fails it under CI, when DynamoDB Local is not
// running). Tests of packages above the store run their table on both, so
// what they prove holds in a deployment as in `rolecall serve`.
func Adapters() []NamedAdapter {
	return []NamedAdapter{
		{"Memory", func(t *testing.T) Adapter { return NewMemory() }},
		{"DynamoDB", func(t *testing.T) Adapter {
			s, _, _ := NewLocalDynamoDB(t)
			return s
		}},
	}
}

// NamedAdapter is one of Adapters.
type NamedAdapter struct {
	Name string
	New  func(t *testing.T) Adapter
}

// NewMemory returns the embedded adapter: a new, empty store.Memory with
// its registrations.
func NewMemory() Adapter { return memoryAdapter{store.NewMemory(), store.NewMemoryRegistrations()} }

// memoryAdapter is the embedded store with its registrations.
type memoryAdapter struct {
	*store.Memory
	*store.MemoryRegistrations
}
