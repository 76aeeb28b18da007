package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/registration"
	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/testkit/testarn"
)

func sampleEvent(dt connection.DetailType, version int64) connection.Event {
	return connection.Event{
		EventID:        connection.EventID("acme", "111111111111", version),
		DetailType:     dt,
		TenantID:       "acme",
		AccountID:      "111111111111",
		RoleARN:        "arn:aws:iam::111111111111:role/path/Deploy",
		Status:         connection.AccessLost,
		PreviousStatus: connection.Verified,
		Reason:         connection.Reason{Code: "ASSUME_DENIED", Message: "m", Hint: "h"},
		OccurredAt:     time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC),
		Version:        version, ExternalIDVersion: 3,
	}
}

func TestEventItemRoundTrip(t *testing.T) {
	for i, dt := range connection.DetailTypes {
		t.Run(string(dt), func(t *testing.T) {
			ev := sampleEvent(dt, int64(i+1))
			if dt == connection.RoleSubmitted {
				ev.PreviousStatus, ev.Reason.Hint = "", "" // first submission
			}
			item, err := ItemFromEvent(ev)
			if err != nil {
				t.Fatal(err)
			}
			if k := item[AttrKind].(*ddbtypes.AttributeValueMemberS).Value; k != KindEvent {
				t.Errorf("kind %q", k)
			}
			if ttl := item[AttrTTL].(*ddbtypes.AttributeValueMemberN).Value; ttl != fmt.Sprint(ev.OccurredAt.Add(EventRetention).Unix()) {
				t.Errorf("ttl %s", ttl)
			}
			got, err := EventFromItem(item)
			if err != nil || got != ev {
				t.Fatalf("round trip:\n got %+v %v\nwant %+v", got, err, ev)
			}
		})
	}
}

// A record as the publish Lambda receives it from the stream.
const streamRecord = `{"Records":[{"eventID":"1","eventName":"INSERT","eventSource":"aws:dynamodb","awsRegion":"us-east-1",
"dynamodb":{"Keys":{"PK":{"S":"TENANT#acme"},"SK":{"S":"EVENT#111111111111#00000000000000000004"}},
"NewImage":{"PK":{"S":"TENANT#acme"},"SK":{"S":"EVENT#111111111111#00000000000000000004"},"kind":{"S":"event"},
"eventId":{"S":"evt-1"},"detailType":{"S":"Role Access Lost"},"tenantId":{"S":"acme"},"accountId":{"S":"111111111111"},
"roleArn":{"S":"arn:aws:iam::111111111111:role/Deploy"},"status":{"S":"ACCESS_LOST"},"previousStatus":{"S":"VERIFIED"},
"reason":{"M":{"code":{"S":"ASSUME_DENIED"},"message":{"S":"RoleCall could not assume the role."},"hint":{"S":"Check the trust policy."}}},
"occurredAt":{"S":"2030-01-02T03:04:05.123456789Z"},"version":{"N":"4"},"externalIdVersion":{"N":"2"},"expiresAt":{"N":"1928891045"}},
"SequenceNumber":"100","SizeBytes":500,"StreamViewType":"NEW_AND_OLD_IMAGES"}}]}`

func TestEventFromStreamImage(t *testing.T) {
	var rec events.DynamoDBEvent
	if err := json.Unmarshal([]byte(streamRecord), &rec); err != nil {
		t.Fatal(err)
	}
	got, err := EventFromStreamImage(rec.Records[0].Change.NewImage)
	if err != nil {
		t.Fatal(err)
	}
	want := connection.Event{EventID: "evt-1", DetailType: connection.RoleAccessLost, TenantID: "acme", AccountID: "111111111111",
		RoleARN: "arn:aws:iam::111111111111:role/Deploy", Status: connection.AccessLost, PreviousStatus: connection.Verified,
		Reason:     connection.Reason{Code: "ASSUME_DENIED", Message: "RoleCall could not assume the role.", Hint: "Check the trust policy."},
		OccurredAt: time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC), Version: 4, ExternalIDVersion: 2}
	if got != want {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestLambdaImage(t *testing.T) {
	in := map[string]streamtypes.AttributeValue{
		"s":    &streamtypes.AttributeValueMemberS{Value: "str"},
		"n":    &streamtypes.AttributeValueMemberN{Value: "42"},
		"b":    &streamtypes.AttributeValueMemberB{Value: []byte{1, 2}},
		"bool": &streamtypes.AttributeValueMemberBOOL{Value: true},
		"null": &streamtypes.AttributeValueMemberNULL{Value: true},
		"ss":   &streamtypes.AttributeValueMemberSS{Value: []string{"a", "b"}},
		"ns":   &streamtypes.AttributeValueMemberNS{Value: []string{"1", "2"}},
		"bs":   &streamtypes.AttributeValueMemberBS{Value: [][]byte{{3}}},
		"l":    &streamtypes.AttributeValueMemberL{Value: []streamtypes.AttributeValue{&streamtypes.AttributeValueMemberS{Value: "x"}, &streamtypes.AttributeValueMemberN{Value: "1"}}},
		"m":    &streamtypes.AttributeValueMemberM{Value: map[string]streamtypes.AttributeValue{"k": &streamtypes.AttributeValueMemberS{Value: "v"}}},
	}
	got := LambdaImage(in)
	unknown := &streamtypes.UnknownUnionMember{Tag: "X"}
	odd := LambdaImage(map[string]streamtypes.AttributeValue{"new": unknown, "ok": &streamtypes.AttributeValueMemberS{Value: "v"},
		"nested": &streamtypes.AttributeValueMemberM{Value: map[string]streamtypes.AttributeValue{"new": unknown}}})
	if odd["new"].DataType() != events.DataTypeNull || odd["nested"].DataType() != events.DataTypeNull || odd["ok"].String() != "v" {
		t.Errorf("a type the SDK does not know converts to %v (nested: %v), want NULL, and the rest as it is (%v)",
			odd["new"].DataType(), odd["nested"].DataType(), odd["ok"])
	}
	want := map[string]events.DynamoDBAttributeValue{
		"s":    events.NewStringAttribute("str"),
		"n":    events.NewNumberAttribute("42"),
		"b":    events.NewBinaryAttribute([]byte{1, 2}),
		"bool": events.NewBooleanAttribute(true),
		"null": events.NewNullAttribute(),
		"ss":   events.NewStringSetAttribute([]string{"a", "b"}),
		"ns":   events.NewNumberSetAttribute([]string{"1", "2"}),
		"bs":   events.NewBinarySetAttribute([][]byte{{3}}),
		"l":    events.NewListAttribute([]events.DynamoDBAttributeValue{events.NewStringAttribute("x"), events.NewNumberAttribute("1")}),
		"m":    events.NewMapAttribute(map[string]events.DynamoDBAttributeValue{"k": events.NewStringAttribute("v")}),
	}
	for k, w := range want {
		gb, err1 := got[k].MarshalJSON()
		wb, err2 := w.MarshalJSON()
		if err := errors.Join(err1, err2); err != nil || string(gb) != string(wb) {
			t.Errorf("%s: %s, want %s (%v)", k, gb, wb, err)
		}
	}
	if LambdaImage(nil) != nil {
		t.Error("a nil image is not nil")
	}
	// And back, as the publish Lambda decodes it: every type arrives as
	// the SDK converts it from the stream.
	back, err1 := fromStreamImage(got)
	direct, err2 := attributevalue.FromDynamoDBStreamsMap(in)
	if err := errors.Join(err1, err2); err != nil || !reflect.DeepEqual(back, direct) {
		t.Errorf("stream image decodes as\n%#v\nwant\n%#v (%v)", back, direct, err)
	}
}

func TestEventFromItemRejects(t *testing.T) {
	good, _ := ItemFromEvent(sampleEvent(connection.RoleVerified, 2))
	with := func(attr string, v ddbtypes.AttributeValue) map[string]ddbtypes.AttributeValue {
		m := maps.Clone(good)
		if v == nil {
			delete(m, attr)
		} else {
			m[attr] = v
		}
		return m
	}
	conn, _ := marshal(newConnItem(connection.Connection{TenantID: "acme", AccountID: "111111111111", Status: connection.Pending, Version: 1}))
	tests := []struct {
		name string
		item map[string]ddbtypes.AttributeValue
		want error
	}{
		{"connection item", conn, ErrNotEvent},
		{"no kind", with(AttrKind, nil), ErrNotEvent},
		{"unknown detail type", with("detailType", &ddbtypes.AttributeValueMemberS{Value: "Role Exploded"}), ErrNotEvent},
		{"no event id", with("eventId", nil), ErrNotEvent},
		{"version zero", with("version", &ddbtypes.AttributeValueMemberN{Value: "0"}), ErrNotEvent},
		{"version not a number", with("version", &ddbtypes.AttributeValueMemberS{Value: "four"}), nil},
		{"time not a time", with("occurredAt", &ddbtypes.AttributeValueMemberS{Value: "yesterday"}), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := EventFromItem(tc.item)
			if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := EventFromStreamImage(map[string]events.DynamoDBAttributeValue{"kind": events.NewStringAttribute("claim")}); !errors.Is(err, ErrNotEvent) {
		t.Fatalf("claim image: %v", err)
	}
}

func TestTableDefinition(t *testing.T) {
	d := TableDefinition("t")
	if aws.ToString(d.TableName) != "t" || d.BillingMode != ddbtypes.BillingModePayPerRequest {
		t.Errorf("name/billing %v %v", aws.ToString(d.TableName), d.BillingMode)
	}
	if s := d.StreamSpecification; !aws.ToBool(s.StreamEnabled) || s.StreamViewType != ddbtypes.StreamViewTypeNewAndOldImages {
		t.Errorf("stream %+v", s)
	}
	keys := func(ks []ddbtypes.KeySchemaElement) string {
		var out []string
		for _, k := range ks {
			out = append(out, aws.ToString(k.AttributeName)+":"+string(k.KeyType))
		}
		return strings.Join(out, ",")
	}
	if got := keys(d.KeySchema); got != "PK:HASH,SK:RANGE" {
		t.Errorf("table keys %s", got)
	}
	want := map[string]string{
		IndexByStatus: "connStatus:HASH,connKey:RANGE KEYS_ONLY",
		IndexDue:      "dueShard:HASH,dueAt:RANGE ALL",
		IndexTenants:  "tenantList:HASH,tenantKey:RANGE KEYS_ONLY",
	}
	for _, g := range d.GlobalSecondaryIndexes {
		name := aws.ToString(g.IndexName)
		if got := keys(g.KeySchema) + " " + string(g.Projection.ProjectionType); got != want[name] {
			t.Errorf("index %s: %s, want %s", name, got, want[name])
		}
		delete(want, name)
	}
	if len(want) != 0 {
		t.Errorf("missing indexes %v", want)
	}
	var attrs []string
	for _, a := range d.AttributeDefinitions {
		if a.AttributeType != ddbtypes.ScalarAttributeTypeS {
			t.Errorf("%s is %s", aws.ToString(a.AttributeName), a.AttributeType)
		}
		attrs = append(attrs, aws.ToString(a.AttributeName))
	}
	slices.Sort(attrs)
	if got := strings.Join(attrs, ","); got != "PK,SK,connKey,connStatus,dueAt,dueShard,tenantKey,tenantList" {
		t.Errorf("attribute definitions %s", got)
	}
}

func TestDueKeysSortByTime(t *testing.T) {
	base := time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC)
	times := []time.Time{base, base.Add(time.Nanosecond), base.Add(time.Second), time.Date(2030, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))}
	var keys []string
	for _, at := range times {
		keys = append(keys, dueOrder(connection.Connection{TenantID: "a", AccountID: "1", NextCheckAt: at}))
	}
	if !slices.IsSorted(keys) {
		t.Fatalf("due keys out of time order: %v", keys)
	}
	for _, k := range keys {
		if len(k) != len(keys[0]) {
			t.Fatalf("due keys are not fixed width: %v", keys)
		}
	}
}

func TestDecodeCursor(t *testing.T) {
	attrs := []string{AttrPK, AttrSK}
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	good := encodeCursor(map[string]ddbtypes.AttributeValue{
		AttrPK: &ddbtypes.AttributeValueMemberS{Value: "TENANT#a"}, AttrSK: &ddbtypes.AttributeValueMemberS{Value: "CONN#1"},
		"other": &ddbtypes.AttributeValueMemberS{Value: "ignored"},
	}, attrs)
	accept := func(map[string]string) bool { return true }
	tests := []struct {
		name, cursor string
		ok           func(map[string]string) bool
		wantErr      bool
	}{
		{"issued", good, accept, false},
		{"not base64", "%%%", accept, true},
		{"padded base64", base64.URLEncoding.EncodeToString([]byte(`{"PK":"a","SK":"b"}`)) + "=", accept, true},
		{"not json", enc("x"), accept, true},
		{"missing attribute", enc(`{"PK":"a"}`), accept, true},
		{"extra attribute", enc(`{"PK":"a","SK":"b","X":"c"}`), accept, true},
		{"wrong attribute", enc(`{"PK":"a","XX":"b"}`), accept, true},
		{"empty value", enc(`{"PK":"a","SK":""}`), accept, true},
		{"not strings", enc(`{"PK":1,"SK":2}`), accept, true},
		{"another listing", good, func(map[string]string) bool { return false }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := decodeCursor(tc.cursor, attrs, tc.ok)
			if tc.wantErr != (err != nil) || err != nil && !errors.Is(err, ErrInvalidCursor) {
				t.Fatalf("got %v, %v", k, err)
			}
		})
	}
}

// fakeDB answers TransactWriteItems from a script, for the cancellation
// paths DynamoDB Local does not produce (it serialises transactions).
type fakeDB struct {
	DynamoDBAPI
	script []error
	calls  []*dynamodb.TransactWriteItemsInput
}

func (f *fakeDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, _ ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	f.calls = append(f.calls, in)
	if len(f.script) == 0 {
		return &dynamodb.TransactWriteItemsOutput{}, nil
	}
	err := f.script[0]
	f.script = f.script[1:]
	return nil, err
}

func cancelled(codes ...string) error {
	var rs []ddbtypes.CancellationReason
	for _, c := range codes {
		rs = append(rs, ddbtypes.CancellationReason{Code: aws.String(c)})
	}
	return &ddbtypes.TransactionCanceledException{Message: aws.String("cancelled"), CancellationReasons: rs}
}

func TestTransitionCancellations(t *testing.T) {
	p := connection.DefaultPolicy()
	a := "arn:aws:iam::111111111111:role/Deploy"
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	first := p.Submit(nil, "acme", testarn.MustParse(t, a), 1, now) // connection, event
	// Verifying claims: connection, event, claim.
	verify, err := p.Apply(first.After, connection.Outcome{ExternalIDCurrent: true, Result: connection.ResultOK, Version: 1, ExternalIDVersion: 1, CheckedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	// Moving a verified connection to another role: connection, event, new
	// claim, release of the old claim.
	move := verify
	move.Check = nil // a hand-made move: no tenant guard
	move.Before = &verify.After
	move.After.RoleARN, move.After.Version = "arn:aws:iam::111111111111:role/Other", verify.After.Version+1
	ev := *verify.Event
	ev.Version, ev.RoleARN = move.After.Version, move.After.RoleARN
	move.Event = &ev
	boom := errors.New("network down")
	const N, C, X = "None", "ConditionalCheckFailed", "TransactionConflict"
	tests := []struct {
		name      string
		tr        connection.Transition
		script    []error
		want      error
		calls     int
		lastItems int
	}{
		{"committed", move, nil, nil, 1, 4},
		{"submission claims nothing", first, nil, nil, 1, 2},
		{"claim held elsewhere", move, []error{cancelled(N, N, C, N)}, ErrRoleClaimed, 1, 4},
		{"claim refusal wins over conflict", move, []error{cancelled(C, C, C, N)}, ErrRoleClaimed, 1, 4},
		{"version moved on", move, []error{cancelled(C, N, N, N)}, ErrConflict, 1, 4},
		{"event exists", first, []error{cancelled(N, C)}, ErrConflict, 1, 2},
		{"old claim is someone else's: written without releasing it", move, []error{cancelled(N, N, N, C)}, nil, 2, 3},
		{"conflicts retried until committed", move, []error{cancelled(N, N, X, N), cancelled(X, N, N, N)}, nil, 3, 4},
		{"verification is guarded by the tenant", verify, nil, nil, 1, 4},
		{"external id retired meanwhile", verify, []error{cancelled(N, N, N, C)}, ErrExternalIDRetired, 1, 4},
		{"retired wins over a lost claim", verify, []error{cancelled(N, N, C, C)}, ErrExternalIDRetired, 1, 4},
		{"conflict then claim lost", verify, []error{cancelled(N, N, X, N), cancelled(N, N, C, N)}, ErrRoleClaimed, 2, 4},
		{"conflicts forever", verify, slices.Repeat([]error{cancelled(N, N, X, N)}, txnAttempts), ErrContended, txnAttempts, 4},
		{"other error", first, []error{boom}, boom, 1, 2},
	}
	for _, tc := range tests {
		// In a bubble, the retries' backoff passes at once.
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				db := &fakeDB{script: tc.script}
				d := NewDynamoDB(db, "t")
				err := d.Apply(context.Background(), tc.tr)
				if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				if errors.Is(err, ErrContended) && errors.Is(err, ErrConflict) {
					t.Fatalf("a contended write reads as a stale one: %v", err)
				}
				if len(db.calls) != tc.calls {
					t.Fatalf("%d calls, want %d", len(db.calls), tc.calls)
				}
				if n := len(db.calls[len(db.calls)-1].TransactItems); n != tc.lastItems {
					t.Fatalf("last call wrote %d items, want %d", n, tc.lastItems)
				}
				tokens := map[string]bool{}
				for _, c := range db.calls {
					tokens[aws.ToString(c.ClientRequestToken)] = true
				}
				if len(tokens) != len(db.calls) {
					t.Fatalf("request tokens reused across attempts: %v", tokens)
				}
			})
		})
	}
}

// TestTenantWritesRetryConflicts: DynamoDB cancels a transaction with
// TransactionConflict while another one is in flight on one of its items,
// and every guarded check of a tenant's connections touches the tenant
// item, so rotations of a busy tenant meet it routinely. Like Apply, the
// tenant, invite and token writes retry it (each attempt with its own
// request token), then report ErrConflict; a condition that failed maps to
// its error at once.
func TestTenantWritesRetryConflicts(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tn, err := tenant.New("acme", "Acme", now)
	if err != nil {
		t.Fatal(err)
	}
	rotated := tn.RotatedWithGrace(now, time.Hour)
	_, inv := tenant.NewInvite("acme", now, time.Hour)
	_, tok, err := registration.New("acme", now, 0)
	if err != nil {
		t.Fatal(err)
	}
	writes := []struct {
		name  string
		write func(d *DynamoDB) error
		taken error // the error when the first item's condition fails
	}{
		{"CreateTenant", func(d *DynamoDB) error { return d.CreateTenant(context.Background(), tn) }, ErrTenantExists},
		{"RotateExternalID", func(d *DynamoDB) error { return d.RotateExternalID(context.Background(), tn, rotated) }, ErrNotFound},
		{"CompleteRotation", func(d *DynamoDB) error {
			return d.CompleteRotation(context.Background(), rotated, connection.CompletionGraceEnded, now)
		}, ErrConflict},
		{"PutInvite", func(d *DynamoDB) error { return d.PutInvite(context.Background(), inv) }, ErrInviteExists},
		{"PutRegistrationToken", func(d *DynamoDB) error { return d.PutRegistrationToken(context.Background(), tok) }, ErrConflict},
	}
	const N, C, X = "None", "ConditionalCheckFailed", "TransactionConflict"
	scripts := []struct {
		name   string
		script []error
		want   error // nil: committed
		calls  int
	}{
		{"a conflict, then committed", []error{cancelled(X, N)}, nil, 2},
		{"conflicts, then committed", []error{cancelled(N, X), cancelled(X, N)}, nil, 3},
		{"conflicts forever", slices.Repeat([]error{cancelled(X, N)}, txnAttempts), ErrContended, txnAttempts},
		{"first condition failed", []error{cancelled(C, N)}, errTaken, 1},
	}
	for _, w := range writes {
		for _, sc := range scripts {
			t.Run(w.name+"/"+sc.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					db := &fakeDB{script: slices.Clone(sc.script)}
					err := w.write(NewDynamoDB(db, "t"))
					want := sc.want
					if want == errTaken {
						want = w.taken
					}
					if want == nil && err != nil || want != nil && !errors.Is(err, want) {
						t.Fatalf("got %v, want %v", err, want)
					}
					if len(db.calls) != sc.calls {
						t.Fatalf("%d calls, want %d", len(db.calls), sc.calls)
					}
					tokens := map[string]bool{}
					for _, c := range db.calls {
						if c.ClientRequestToken == nil || tokens[*c.ClientRequestToken] {
							t.Fatalf("attempts without their own request token: %v", db.calls)
						}
						tokens[*c.ClientRequestToken] = true
					}
				})
			})
		}
	}
}

// errTaken stands for the write's own error for a failed first condition.
var errTaken = errors.New("the write's condition error")

// updateDB answers UpdateItem from a script of errors, then with the
// tenant item set to the limit asked for.
type updateDB struct {
	DynamoDBAPI
	script []error
	calls  int
}

func (f *updateDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	f.calls++
	if len(f.script) > 0 {
		err := f.script[0]
		f.script = f.script[1:]
		return nil, err
	}
	tn, err := tenant.New("acme", "Acme", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		return nil, err
	}
	item, err := attributevalue.MarshalMap(newTenantItem(tn))
	if err != nil {
		return nil, err
	}
	item["maxConnections"] = in.ExpressionAttributeValues[":limit"]
	return &dynamodb.UpdateItemOutput{Attributes: item}, nil
}

// errDynamoDBDown is a failure of DynamoDB that is no conflict.
var errDynamoDBDown = errors.New("dynamodb is down")

// errTxnConflict is DynamoDB's refusal of a write to an item a transaction
// is in flight on.
var errTxnConflict = &ddbtypes.TransactionConflictException{Message: aws.String("Operation was rejected because there is an ongoing transaction for the item.")}

// TestSetMaxConnectionsRetriesConflicts: DynamoDB rejects an UpdateItem
// with TransactionConflictException while a transaction is in flight on
// the item, and every guarded check of a busy tenant's connections, every
// rotation and completion is one on the tenant item. Setting the limit
// retries it, as the tenant's transactional writes do, then reports
// ErrConflict; a missing tenant is ErrNotFound at once.
func TestSetMaxConnectionsRetriesConflicts(t *testing.T) {
	tests := []struct {
		name   string
		script []error
		want   error // nil: set
		calls  int
	}{
		{"set", nil, nil, 1},
		{"conflicts, then set", []error{errTxnConflict, errTxnConflict}, nil, 3},
		{"conflicts forever", slices.Repeat([]error{errTxnConflict}, txnAttempts), ErrContended, txnAttempts},
		{"no such tenant", []error{&ddbtypes.ConditionalCheckFailedException{Message: aws.String("failed")}}, ErrNotFound, 1},
		{"another failure: not retried", []error{errDynamoDBDown}, errDynamoDBDown, 1},
		{"the context ends in the wait", []error{errTxnConflict}, context.Canceled, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				db := &updateDB{script: slices.Clone(tt.script)}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				if tt.want == context.Canceled {
					cancel()
				}
				got, err := NewDynamoDB(db, "t").SetMaxConnections(ctx, "acme", 250)
				if tt.want == nil && (err != nil || got.MaxConnections != 250) || tt.want != nil && !errors.Is(err, tt.want) {
					t.Fatalf("SetMaxConnections = %+v, %v; want %v", got, err, tt.want)
				}
				if db.calls != tt.calls {
					t.Fatalf("%d calls, want %d", db.calls, tt.calls)
				}
			})
		})
	}
}

// TestRoutineCheckRetriesConflicts: a routine check's one UpdateItem is
// sent again while DynamoDB rejects it for a transaction in flight on the
// connection item (a candidate's submission, a disconnection), then
// ErrConflict, so the check is not made again for a write that may yet
// succeed; the connection having changed is ErrConflict at once.
func TestRoutineCheckRetriesConflicts(t *testing.T) {
	p := connection.DefaultPolicy()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	first := p.Submit(nil, "acme", testarn.MustParse(t, "arn:aws:iam::111111111111:role/Deploy"), 1, now)
	verified, err := p.Apply(first.After, connection.Outcome{ExternalIDCurrent: true, Result: connection.ResultOK, Version: 1, ExternalIDVersion: 1, CheckedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	routine, err := p.Apply(verified.After, connection.Outcome{ExternalIDCurrent: true, Result: connection.ResultOK, Version: verified.After.Version, ExternalIDVersion: 1, CheckedAt: now.Add(time.Hour)})
	if err != nil || routine.Event != nil {
		t.Fatalf("not a routine check: %+v, %v", routine, err)
	}
	tests := []struct {
		name   string
		script []error
		want   error
		calls  int
	}{
		{"written", nil, nil, 1},
		{"a conflict, then written", []error{errTxnConflict}, nil, 2},
		{"conflicts forever", slices.Repeat([]error{errTxnConflict}, txnAttempts), ErrContended, txnAttempts},
		{"the connection changed", []error{&ddbtypes.ConditionalCheckFailedException{Message: aws.String("failed")}}, ErrConflict, 1},
		{"another failure: not retried", []error{errDynamoDBDown}, errDynamoDBDown, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				db := &updateDB{script: slices.Clone(tt.script)}
				err := NewDynamoDB(db, "t").Apply(context.Background(), routine)
				if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
					t.Fatalf("Apply = %v, want %v", err, tt.want)
				}
				if db.calls != tt.calls {
					t.Fatalf("%d calls, want %d", db.calls, tt.calls)
				}
			})
		})
	}
}
