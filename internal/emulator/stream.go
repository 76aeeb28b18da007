package emulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	st "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/rolecall/rolecall/internal/backoff"
	"github.com/rolecall/rolecall/internal/store"
)

// StreamsAPI is the part of *dynamodbstreams.Client the stream feed uses.
type StreamsAPI interface {
	DescribeStream(ctx context.Context, in *dynamodbstreams.DescribeStreamInput, optFns ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error)
	GetShardIterator(ctx context.Context, in *dynamodbstreams.GetShardIteratorInput, optFns ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, optFns ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

// streamHandler is what the stream feed hands records to
// (PublishHandler).
type streamHandler interface {
	Handle(ctx context.Context, in events.DynamoDBEvent) (events.DynamoDBEventResponse, error)
}

// streamFeed polls a DynamoDB stream as Lambda's event source mapping does
// and hands the records to the publish handler as the DynamoDB event the
// Lambda gets, retrying the records it reports as failures. Shards open at
// start are read from their latest record (what came before was the
// business of an earlier run, or of the deployed publish function); shards
// that appear later, from their start.
type streamFeed struct {
	api       StreamsAPI
	streamARN string
	handler   streamHandler // the publish handler, set by Start
	log       *slog.Logger
	// Poll is the pause between reads when no shard had records (default
	// 100ms).
	poll time.Duration

	shards map[string]*shardReader
	// started is when start ran: a shard read from LATEST whose iterator
	// is renewed before a record was read skips the records before it.
	started time.Time
	// lastDescribe throttles the shard discovery.
	lastDescribe time.Time
	// left are records a stopped run read but had not published yet;
	// drain hands them to the handler first.
	left []events.DynamoDBEventRecord
}

type shardReader struct {
	iterator string
	lastSeq  string
	closed   bool
	// fromLatest: the shard was read from LATEST at start.
	fromLatest bool
	// since, when set, drops the records created before it: a shard read
	// from LATEST renewed at TRIM_HORIZON before any record was read. It
	// is cleared at the first record kept (later ones are newer).
	since time.Time
}

// startSlack is how far before the feed's start a shard renewed at
// TRIM_HORIZON keeps records: creation times are rounded down (to the
// second by DynamoDB Streams, to the minute by DynamoDB Local) and stamped
// by the stream's clock, not this machine's, so the records of the last
// minute before the start may be published again (consumers deduplicate
// on eventId) rather than one after it lost.
const startSlack = time.Minute + 2*time.Second

const streamBatch = 100

// start takes an iterator for every open shard, so records written after it
// returns are delivered.
func (f *streamFeed) start(ctx context.Context) error {
	if f.poll <= 0 {
		f.poll = 100 * time.Millisecond
	}
	f.shards = map[string]*shardReader{}
	f.started = time.Now()
	return f.discover(ctx, true)
}

// discover adds the stream's shards not yet known.
func (f *streamFeed) discover(ctx context.Context, initial bool) error {
	f.lastDescribe = time.Now()
	var start *string
	for {
		out, err := f.api.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(f.streamARN), ExclusiveStartShardId: start})
		if err != nil {
			return fmt.Errorf("describe stream %s: %w", f.streamARN, err)
		}
		if out.StreamDescription == nil {
			return fmt.Errorf("describe stream %s: no description", f.streamARN)
		}
		for _, sh := range out.StreamDescription.Shards {
			id := aws.ToString(sh.ShardId)
			if _, known := f.shards[id]; known || id == "" {
				continue
			}
			closed := sh.SequenceNumberRange != nil && sh.SequenceNumberRange.EndingSequenceNumber != nil
			if initial && closed {
				f.shards[id] = &shardReader{closed: true}
				continue
			}
			kind := st.ShardIteratorTypeTrimHorizon
			if initial {
				kind = st.ShardIteratorTypeLatest
			}
			it, err := f.api.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(f.streamARN), ShardId: sh.ShardId, ShardIteratorType: kind})
			if err != nil {
				return fmt.Errorf("iterator of shard %s: %w", id, err)
			}
			f.shards[id] = &shardReader{iterator: aws.ToString(it.ShardIterator), fromLatest: initial}
		}
		start = out.StreamDescription.LastEvaluatedShardId
		if start == nil {
			return nil
		}
	}
}

func (f *streamFeed) run(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := f.once(ctx, context.WithoutCancel(ctx))
		if err != nil && ctx.Err() == nil {
			f.log.Error("read the table's stream", "error", err)
		}
		if n == 0 {
			select {
			case <-ctx.Done():
			case <-time.After(f.poll):
			}
		}
	}
}

// drain delivers what a stopped run left, then reads until no shard has
// records left (or ctx is done).
func (f *streamFeed) drain(ctx context.Context) {
	f.left = f.deliver(ctx, ctx, f.left)
	for ctx.Err() == nil {
		n, err := f.once(ctx, ctx)
		if err != nil {
			f.log.Error("drain the table's stream", "error", err)
			break
		}
		if n == 0 {
			break
		}
	}
	if len(f.left) > 0 {
		f.log.Error("stream records not published", "count", len(f.left), "error", ctx.Err())
		f.left = nil
	}
}

// once reads every open shard once and returns how many records it read
// (delivered or skipped); the handler's calls run with pub (see deliver).
func (f *streamFeed) once(ctx, pub context.Context) (int, error) {
	if time.Since(f.lastDescribe) > 2*time.Second {
		if err := f.discover(ctx, false); err != nil {
			return 0, err
		}
	}
	total := 0
	var errs []error
	for id, sh := range f.shards {
		if sh.closed {
			continue
		}
		n, err := f.read(ctx, pub, id, sh)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

func (f *streamFeed) read(ctx, pub context.Context, id string, sh *shardReader) (int, error) {
	out, err := f.api.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String(sh.iterator), Limit: aws.Int32(streamBatch)})
	var expired *st.ExpiredIteratorException
	var trimmed *st.TrimmedDataAccessException
	if errors.As(err, &expired) || errors.As(err, &trimmed) {
		// An expired iterator continues after the last record read. An
		// iterator past the trim horizon restarts at the oldest record
		// still there: some records may come twice, which publishing
		// tolerates (the same event keeps its eventId). A shard read from
		// LATEST with no record read yet has no position to continue
		// from: it restarts at the oldest record too, skipping those
		// written before the start, which are not this run's to publish.
		in := &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(f.streamARN), ShardId: aws.String(id), ShardIteratorType: st.ShardIteratorTypeTrimHorizon}
		if sh.lastSeq != "" && trimmed == nil {
			in.ShardIteratorType, in.SequenceNumber = st.ShardIteratorTypeAfterSequenceNumber, aws.String(sh.lastSeq)
		}
		if sh.lastSeq == "" && sh.fromLatest {
			sh.since = f.started.Add(-startSlack)
		}
		if trimmed != nil {
			f.log.Warn("stream iterator past the trim horizon; reading the shard from its oldest record", "shard", id)
		}
		it, err := f.api.GetShardIterator(ctx, in)
		if err != nil {
			return 0, fmt.Errorf("renew the iterator of shard %s: %w", id, err)
		}
		sh.iterator = aws.ToString(it.ShardIterator)
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("get records of shard %s: %w", id, err)
	}
	if len(out.Records) > 0 {
		recs := make([]events.DynamoDBEventRecord, 0, len(out.Records))
		for _, r := range out.Records {
			if sh.beforeSince(r) {
				continue
			}
			sh.since = time.Time{}
			recs = append(recs, lambdaRecord(r, f.streamARN))
		}
		if len(recs) > 0 {
			f.left = append(f.left, f.deliver(ctx, pub, recs)...)
		}
		sh.lastSeq = aws.ToString(out.Records[len(out.Records)-1].Dynamodb.SequenceNumber)
	}
	if out.NextShardIterator == nil {
		sh.closed = true // the shard was split or retired; discover finds its children
		f.lastDescribe = time.Time{}
	} else {
		sh.iterator = aws.ToString(out.NextShardIterator)
	}
	return len(out.Records), nil
}

// beforeSince reports whether r is to be skipped as created before sh.since.
// A record without a creation time is kept: published twice rather than
// lost.
func (sh *shardReader) beforeSince(r st.Record) bool {
	return !sh.since.IsZero() && r.Dynamodb != nil && r.Dynamodb.ApproximateCreationDateTime != nil &&
		r.Dynamodb.ApproximateCreationDateTime.Before(sh.since)
}

// deliver hands records to the handler, retrying those it reports as
// failures a few times (Lambda would retry, then send them to the
// on-failure destination; here they are logged). Each call runs with pub,
// cut off after invocationTimeout as the Lambda would be: run passes a
// context a stop does not cancel, drain its own deadline. A call cut off
// may have published part of the batch, which is then published again,
// as Lambda retries a batch (consumers deduplicate on the event's
// eventId). The wait before a retry ends with ctx, and the records not
// yet published then are returned.
func (f *streamFeed) deliver(ctx, pub context.Context, recs []events.DynamoDBEventRecord) []events.DynamoDBEventRecord {
	in := events.DynamoDBEvent{Records: recs}
	for attempt := 1; len(in.Records) > 0; attempt++ {
		hctx, cancel := context.WithTimeout(pub, invocationTimeout)
		resp, err := f.handler.Handle(hctx, in)
		cancel()
		if err != nil {
			f.log.Error("publish handler failed", "error", err)
		}
		if err == nil && len(resp.BatchItemFailures) == 0 {
			return nil
		}
		if attempt >= deliveryAttempts {
			f.log.Error("stream records not published", "count", len(in.Records))
			return nil
		}
		if err == nil {
			failed := map[string]bool{}
			for _, b := range resp.BatchItemFailures {
				failed[b.ItemIdentifier] = true
			}
			var left []events.DynamoDBEventRecord
			for _, r := range in.Records {
				if failed[r.Change.SequenceNumber] {
					left = append(left, r)
				}
			}
			in.Records = left
		}
		if backoff.Wait(ctx, retryDelay(attempt)) != nil {
			return in.Records
		}
	}
	return nil
}

// lambdaRecord converts a stream record to the record of a Lambda DynamoDB
// event.
func lambdaRecord(r st.Record, streamARN string) events.DynamoDBEventRecord {
	out := events.DynamoDBEventRecord{
		EventID:        aws.ToString(r.EventID),
		EventName:      string(r.EventName),
		EventSource:    aws.ToString(r.EventSource),
		EventVersion:   aws.ToString(r.EventVersion),
		AWSRegion:      aws.ToString(r.AwsRegion),
		EventSourceArn: streamARN,
	}
	if d := r.Dynamodb; d != nil {
		out.Change = events.DynamoDBStreamRecord{
			Keys:           store.LambdaImage(d.Keys),
			NewImage:       store.LambdaImage(d.NewImage),
			OldImage:       store.LambdaImage(d.OldImage),
			SequenceNumber: aws.ToString(d.SequenceNumber),
			SizeBytes:      aws.ToInt64(d.SizeBytes),
			StreamViewType: string(d.StreamViewType),
		}
		if d.ApproximateCreationDateTime != nil {
			out.Change.ApproximateCreationDateTime = events.SecondsEpochTime{Time: *d.ApproximateCreationDateTime}
		}
	}
	return out
}
