package emulator

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	st "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/rolecall/rolecall/internal/testkit/logcapture"
)

// fakeStream is a DynamoDB stream in memory: shards of records, iterators
// that are "<shard>/<position>", an optional expiry of the next GetRecords.
type fakeStream struct {
	mu      sync.Mutex
	shards  []string
	records map[string][]st.Record
	closed  map[string]bool
	expire  map[string]bool // the next GetRecords of the shard fails as expired
	trim    map[string]bool // the next GetRecords of the shard fails as trimmed
	kinds   map[string]st.ShardIteratorType
}

func (f *fakeStream) DescribeStream(ctx context.Context, in *dynamodbstreams.DescribeStreamInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var shards []st.Shard
	for _, id := range f.shards {
		sh := st.Shard{ShardId: aws.String(id), SequenceNumberRange: &st.SequenceNumberRange{StartingSequenceNumber: aws.String("0")}}
		if f.closed[id] {
			sh.SequenceNumberRange.EndingSequenceNumber = aws.String("9")
		}
		shards = append(shards, sh)
	}
	return &dynamodbstreams.DescribeStreamOutput{StreamDescription: &st.StreamDescription{Shards: shards}}, nil
}

func (f *fakeStream) GetShardIterator(ctx context.Context, in *dynamodbstreams.GetShardIteratorInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := aws.ToString(in.ShardId)
	f.kinds[id] = in.ShardIteratorType
	pos := 0
	switch in.ShardIteratorType {
	case st.ShardIteratorTypeLatest:
		pos = len(f.records[id])
	case st.ShardIteratorTypeAfterSequenceNumber:
		for i, r := range f.records[id] {
			if aws.ToString(r.Dynamodb.SequenceNumber) == aws.ToString(in.SequenceNumber) {
				pos = i + 1
			}
		}
	}
	return &dynamodbstreams.GetShardIteratorOutput{ShardIterator: aws.String(fmt.Sprintf("%s/%d", id, pos))}, nil
}

func (f *fakeStream) GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var id string
	var pos int
	if _, err := fmt.Sscanf(aws.ToString(in.ShardIterator), "%s", &id); err != nil {
		return nil, err
	}
	for i := len(id) - 1; i >= 0; i-- {
		if id[i] == '/' {
			fmt.Sscanf(id[i+1:], "%d", &pos)
			id = id[:i]
			break
		}
	}
	if f.expire[id] {
		delete(f.expire, id)
		return nil, &st.ExpiredIteratorException{Message: aws.String("expired")}
	}
	if f.trim[id] {
		delete(f.trim, id)
		return nil, &st.TrimmedDataAccessException{Message: aws.String("trimmed")}
	}
	recs := f.records[id][pos:]
	out := &dynamodbstreams.GetRecordsOutput{Records: recs}
	if !f.closed[id] || len(recs) > 0 {
		out.NextShardIterator = aws.String(fmt.Sprintf("%s/%d", id, pos+len(recs)))
	}
	return out, nil
}

func newFakeStream(shards ...string) *fakeStream {
	return &fakeStream{shards: shards, records: map[string][]st.Record{}, closed: map[string]bool{},
		expire: map[string]bool{}, trim: map[string]bool{}, kinds: map[string]st.ShardIteratorType{}}
}

// add appends a record created now, its creation time rounded down to the
// second as DynamoDB Streams gives it.
func (f *fakeStream) add(shard, seq, pk string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records[shard] = append(f.records[shard], st.Record{
		EventName: st.OperationTypeInsert,
		// Creation times rounded down to the minute, as DynamoDB Local
		// stamps them (DynamoDB Streams rounds them to the second).
		Dynamodb: &st.StreamRecord{SequenceNumber: aws.String(seq), ApproximateCreationDateTime: aws.Time(time.Now().Truncate(time.Minute)),
			NewImage: map[string]st.AttributeValue{"PK": &st.AttributeValueMemberS{Value: pk}}},
	})
}

// fakeHandler records the records delivered, failing the given sequence
// numbers once.
type fakeHandler struct {
	mu       sync.Mutex
	seen     []string
	failOnce map[string]bool
}

func (h *fakeHandler) Handle(ctx context.Context, in events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var resp events.DynamoDBEventResponse
	for _, r := range in.Records {
		seq := r.Change.SequenceNumber
		h.seen = append(h.seen, seq+"="+r.Change.NewImage["PK"].String())
		if h.failOnce[seq] {
			delete(h.failOnce, seq)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: seq})
		}
	}
	return resp, nil
}

func TestStreamFeed(t *testing.T) {
	fs := &fakeStream{shards: []string{"old", "a"}, records: map[string][]st.Record{}, closed: map[string]bool{"old": true},
		expire: map[string]bool{}, trim: map[string]bool{}, kinds: map[string]st.ShardIteratorType{}}
	fs.add("a", "1", "before-start") // written by an earlier run: not delivered
	h := &fakeHandler{failOnce: map[string]bool{"3": true}}
	f := &streamFeed{api: fs, streamARN: "arn:stream", handler: h, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx := context.Background()
	if err := f.start(ctx); err != nil {
		t.Fatal(err)
	}
	if fs.kinds["a"] != st.ShardIteratorTypeLatest || fs.kinds["old"] != "" {
		t.Fatalf("iterators at start: %v (want LATEST for the open shard, none for the closed one)", fs.kinds)
	}
	fs.add("a", "2", "x")
	fs.add("a", "3", "y") // refused once by the handler: delivered again
	f.drain(ctx)
	// The shard is split: a closes, b appears and is read from its start.
	fs.mu.Lock()
	fs.closed["a"] = true
	fs.shards = append(fs.shards, "b")
	fs.mu.Unlock()
	fs.add("b", "4", "z")
	f.drain(ctx) // reads the end of a (nothing), marks it closed
	f.drain(ctx) // discovers b
	// The iterator expires: renewed after the last sequence number.
	addAndRenew(t, f, fs.expire, "b", "5", "w", st.ShardIteratorTypeAfterSequenceNumber)
	// The iterator falls behind the trim horizon: the feed goes on from
	// the oldest record left (delivering some again) instead of failing.
	addAndRenew(t, f, fs.trim, "b", "6", "v", st.ShardIteratorTypeTrimHorizon)

	want := []string{"2=x", "3=y", "3=y", "4=z", "5=w", "4=z", "5=w", "6=v"}
	if !reflect.DeepEqual(h.seen, want) {
		t.Errorf("delivered %v, want %v", h.seen, want)
	}
}

// TestStreamFeedExpiredBeforeAnyRecord: a shard read from LATEST whose
// iterator expires before a record was read from it (serve idle or
// suspended for the 15 minutes an iterator lives) is read again from its
// oldest record, but the records created before the start (by an earlier
// run or the deployed publish function) are skipped, bar those of the
// last seconds (startSlack); the next renewal continues after the last
// record read. A record created after the start is never skipped, though
// its creation time, rounded down to the minute, is before the start.
func TestStreamFeedExpiredBeforeAnyRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newFakeStream("a")
		fs.add("a", "1", "hour-before")
		time.Sleep(time.Hour + 29*time.Second)
		fs.add("a", "2", "second-before")
		time.Sleep(time.Second)
		h := &fakeHandler{failOnce: map[string]bool{}}
		f := &streamFeed{api: fs, streamARN: "arn:stream", handler: h, log: slog.New(slog.DiscardHandler)}
		ctx := context.Background()
		if err := f.start(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second) // the same minute as the start
		addAndRenew(t, f, fs.expire, "a", "3", "after", st.ShardIteratorTypeTrimHorizon)
		addAndRenew(t, f, fs.expire, "a", "4", "later", st.ShardIteratorTypeAfterSequenceNumber)
		if want := []string{"2=second-before", "3=after", "4=later"}; !slices.Equal(h.seen, want) {
			t.Errorf("delivered %v, want %v", h.seen, want)
		}
	})
}

// TestStreamFeedStopDuringRetry: stopping the feed while it waits to
// retry a record the handler refused ends the wait at once (no time passes
// on the bubble's clock); drain then delivers the record, or, when its own
// context is done too and the handler refuses it again, logs it as not
// published without waiting.
func TestStreamFeedStopDuringRetry(t *testing.T) {
	for _, drainStopped := range []bool{false, true} {
		t.Run(fmt.Sprintf("drain stopped %v", drainStopped), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := &fakeHandler{failOnce: map[string]bool{"2": true}}
				logs := logcapture.New(nil)
				f, fs := oneShardFeed(t, h, slog.New(logs))
				fs.add("a", "1", "x")
				fs.add("a", "2", "y") // refused once
				// Run waits to retry record 2 when the stop comes.
				if waited := stopWhenSettled(f.run); waited != 0 {
					t.Errorf("run returned %v after the stop; want at once", waited)
				}
				if len(f.left) != 1 || f.left[0].Change.SequenceNumber != "2" {
					t.Fatalf("run left %v for drain, want record 2", f.left)
				}

				dctx, dstop := context.WithCancel(context.Background())
				if drainStopped {
					dstop()
					h.mu.Lock()
					h.failOnce["2"] = true // refused again: no time to retry it
					h.mu.Unlock()
				}
				defer dstop()
				start := time.Now()
				f.drain(dctx)
				if waited := time.Since(start); waited != 0 {
					t.Errorf("drain took %v, want no wait", waited)
				}
				h.mu.Lock()
				seen := slices.Clone(h.seen)
				h.mu.Unlock()
				if want := []string{"1=x", "2=y", "2=y"}; !slices.Equal(seen, want) {
					t.Errorf("delivered %v, want %v", seen, want)
				}
				wantLogs := map[bool]int{false: 0, true: 1}[drainStopped]
				if got := logs.Count("stream records not published"); got != wantLogs || f.left != nil {
					t.Errorf("%d logs of records not published, %d records left; want %d and none", got, len(f.left), wantLogs)
				}
			})
		})
	}
}

// hangingHandler is a publish handler whose bus stopped answering: each
// call blocks until its context ends.
type hangingHandler struct{}

func (hangingHandler) Handle(ctx context.Context, _ events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	<-ctx.Done()
	return events.DynamoDBEventResponse{}, ctx.Err()
}

// TestStreamFeedStopWhileTheHandlerHangs: a stop does not cancel a call in
// progress, but the call ends after the function's timeout, as Lambda
// ends an invocation, so a hanging bus holds serve's stop no longer; the
// records go to drain.
func TestStreamFeedStopWhileTheHandlerHangs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, fs := oneShardFeed(t, hangingHandler{}, slog.New(slog.DiscardHandler))
		fs.add("a", "1", "x")
		// The handler hangs on record 1 when the stop comes.
		if waited := stopWhenSettled(f.run); waited != invocationTimeout {
			t.Errorf("run returned %v after the stop; want the function's timeout, %v", waited, invocationTimeout)
		}
		if len(f.left) != 1 {
			t.Errorf("run left %d records for drain, want 1", len(f.left))
		}
	})
}

// TestStreamFeedDrainIsBoundedByItsDeadline: during drain a hanging
// handler call ends with drain's deadline, not a fresh function timeout,
// so serve's stop waits no longer than it allows; the records are logged
// as not published.
func TestStreamFeedDrainIsBoundedByItsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logs := logcapture.New(nil)
		f, fs := oneShardFeed(t, hangingHandler{}, slog.New(logs))
		fs.add("a", "1", "x")
		const deadline = 5 * time.Second
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		start := time.Now()
		f.drain(ctx)
		if took := time.Since(start); took != deadline {
			t.Errorf("drain took %v, want its deadline, %v", took, deadline)
		}
		if logs.Count("stream records not published") == 0 {
			t.Error("records cut off by the deadline were not logged")
		}
	})
}

// addAndRenew adds a record to shard of f's fake stream, fails the
// shard's next read (fail is its expire or trim) and drains f twice: the
// first renews the shard's iterator, the second reads from it. The renewed
// iterator must be of type want.
func addAndRenew(t *testing.T, f *streamFeed, fail map[string]bool, shard, seq, pk string, want st.ShardIteratorType) {
	t.Helper()
	fs := f.api.(*fakeStream)
	fs.add(shard, seq, pk)
	fs.mu.Lock()
	fail[shard] = true
	fs.mu.Unlock()
	f.drain(context.Background())
	f.drain(context.Background())
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if got := fs.kinds[shard]; got != want {
		t.Errorf("after record %s, the renewed iterator of shard %s is %s, want %s", seq, shard, got, want)
	}
}

// oneShardFeed is a stream feed started on a fake stream of one open
// shard, "a", handing records to h.
func oneShardFeed(t *testing.T, h streamHandler, log *slog.Logger) (*streamFeed, *fakeStream) {
	t.Helper()
	fs := newFakeStream("a")
	f := &streamFeed{api: fs, streamARN: "arn:stream", handler: h, log: log}
	if err := f.start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f, fs
}
