package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/store/storetest"
	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/testkit/ddbmeter"
)

func TestDynamoDBContract(t *testing.T) {
	client := storetest.LocalClient(t)
	storetest.Run(t, func(t *testing.T) store.Store { return store.NewDynamoDB(client, storetest.NewTable(t, client)) })
}

func TestCreateTable(t *testing.T) {
	client := storetest.LocalClient(t)
	ctx := context.Background()
	name := storetest.NewTable(t, client)
	if err := store.CreateTable(ctx, client, name); err != nil {
		t.Fatalf("second CreateTable of an existing table: %v", err)
	}
	d, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	tbl := d.Table
	if tbl.TableStatus != ddbtypes.TableStatusActive {
		t.Errorf("status %s", tbl.TableStatus)
	}
	if s := tbl.StreamSpecification; s == nil || !aws.ToBool(s.StreamEnabled) || s.StreamViewType != ddbtypes.StreamViewTypeNewAndOldImages {
		t.Errorf("stream %+v", s)
	}
	if aws.ToString(tbl.LatestStreamArn) == "" {
		t.Error("no stream ARN")
	}
	gsis := map[string]ddbtypes.ProjectionType{}
	for _, g := range tbl.GlobalSecondaryIndexes {
		gsis[aws.ToString(g.IndexName)] = g.Projection.ProjectionType
	}
	want := map[string]ddbtypes.ProjectionType{store.IndexByStatus: ddbtypes.ProjectionTypeKeysOnly, store.IndexDue: ddbtypes.ProjectionTypeAll, store.IndexTenants: ddbtypes.ProjectionTypeKeysOnly}
	if fmt.Sprint(gsis) != fmt.Sprint(want) {
		t.Errorf("indexes %v, want %v", gsis, want)
	}
	ttl, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if d := ttl.TimeToLiveDescription; d == nil || aws.ToString(d.AttributeName) != store.AttrTTL || d.TimeToLiveStatus != ddbtypes.TimeToLiveStatusEnabled {
		t.Errorf("ttl %+v", d)
	}
}

// scenario drives one of every transition and some routine checks, and
// returns the events the transitions emitted.
func scenario(t *testing.T, s store.Store) (transitions []connection.Event, routines int) {
	t.Helper()
	f := storetest.NewFixture(t, s)
	r := &storetest.Recorder{T: t}
	rec := r.Add
	const a, b = "111111111111", "222222222222"
	rec(f.Submit("acme", "arn:aws:iam::111111111111:role/Deploy")) // Role Submitted
	rec(f.Submit("bravo", "arn:aws:iam::222222222222:role/Deploy"))
	f.Now = f.Now.Add(10 * time.Second)
	rec(f.Check("acme", a, connection.ResultDenied)) // routine: inside the propagation window
	rec(f.Check("acme", a, connection.ResultOK))     // Role Verified
	f.Now = f.Now.Add(time.Hour)
	rec(f.Check("acme", a, connection.ResultOK))        // routine
	rec(f.Check("acme", a, connection.ResultTransient)) // routine
	rec(f.Check("acme", a, connection.ResultDenied))    // routine: first failure
	rec(f.Check("acme", a, connection.ResultDenied))    // Role Access Lost
	rec(f.Check("acme", a, connection.ResultDenied))    // routine: still lost
	rec(f.Check("acme", a, connection.ResultOK))        // Role Access Restored
	f.Now = f.Now.Add(3 * time.Minute)
	rec(f.Check("bravo", b, connection.ResultNotEnforced))              // Role Verification Failed
	rec(f.Check("bravo", b, connection.ResultDenied))                   // Role Verification Failed (new reason)
	rec(f.Submit("bravo", "arn:aws:iam::222222222222:role/Other"))      // Role Submitted
	rec(f.Submit("carol", "arn:aws:iam::111111111111:role/deploy"))     // Role Submitted: submissions never claim
	if _, err := f.Check("carol", a, connection.ResultOK); err == nil { // refused: no event
		t.Fatal("claimed role was granted")
	}
	rec(f.Disconnect("acme", a)) // Role Disconnected
	return r.Events, r.Routines
}

func TestDynamoDBStream(t *testing.T) {
	s, client, table := storetest.NewLocalDynamoDB(t)
	ctx := context.Background()
	tn, _ := tenant.New("acme", "Acme", time.Now())
	if err := s.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	_, inv := tenant.NewInvite("acme", time.Now(), 0)
	if err := s.PutInvite(ctx, inv); err != nil {
		t.Fatal(err)
	}
	want, routines := scenario(t, s)
	if len(want) != 10 || routines != 5 {
		t.Fatalf("scenario: %d transitions, %d routine checks; want 10 and 5", len(want), routines)
	}

	streams := dynamodbstreams.New(dynamodbstreams.Options{Region: "us-east-1", BaseEndpoint: aws.String(os.Getenv(storetest.EndpointVar)), Credentials: client.Options().Credentials})
	d, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	records := readStream(t, streams, aws.ToString(d.Table.LatestStreamArn))

	// The publish function's filter: INSERTs whose NewImage has kind=event.
	var got []connection.Event
	modifies := 0
	for _, r := range records {
		newKind, oldKind := kindOf(r.Dynamodb.NewImage), kindOf(r.Dynamodb.OldImage)
		if r.EventName == streamtypes.OperationTypeInsert && newKind == store.KindEvent {
			ev, err := store.EventFromStreamImage(store.LambdaImage(r.Dynamodb.NewImage))
			if err != nil {
				t.Fatalf("decode stream image: %v", err)
			}
			got = append(got, ev)
			continue
		}
		if newKind == store.KindEvent || oldKind == store.KindEvent {
			t.Errorf("an event item was %s", r.EventName)
		}
		if r.EventName == streamtypes.OperationTypeModify && newKind == "connection" {
			modifies++
		}
	}
	byID := func(evs []connection.Event) []connection.Event {
		evs = slices.Clone(evs)
		sort.Slice(evs, func(i, j int) bool { return evs[i].EventID < evs[j].EventID })
		return evs
	}
	if fmt.Sprint(byID(got)) != fmt.Sprint(byID(want)) {
		t.Fatalf("outbox INSERTs in the stream:\n got %d %+v\nwant %d %+v", len(got), got, len(want), want)
	}
	// Within one connection the stream keeps commit order.
	perConn := map[string][]int64{}
	for _, ev := range got {
		k := ev.TenantID + "/" + ev.AccountID
		perConn[k] = append(perConn[k], ev.Version)
	}
	for k, vs := range perConn {
		if !slices.IsSorted(vs) {
			t.Errorf("%s: events out of order in the stream: %v", k, vs)
		}
	}
	// Every routine check is one MODIFY of the connection, and nothing else.
	if wantMods := routines + len(want) - 3; modifies != wantMods { // the first submissions of acme, bravo and carol are INSERTs
		t.Errorf("%d connection MODIFY records, want %d", modifies, wantMods)
	}
}

func kindOf(img map[string]streamtypes.AttributeValue) string {
	if k, ok := img[store.AttrKind].(*streamtypes.AttributeValueMemberS); ok {
		return k.Value
	}
	return ""
}

// readStream reads every record of every shard from TRIM_HORIZON.
func readStream(t *testing.T, c *dynamodbstreams.Client, arn string) []streamtypes.Record {
	t.Helper()
	ctx := context.Background()
	var shards []streamtypes.Shard
	in := &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(arn)}
	for {
		d, err := c.DescribeStream(ctx, in)
		if err != nil {
			t.Fatalf("describe stream: %v", err)
		}
		shards = append(shards, d.StreamDescription.Shards...)
		if d.StreamDescription.LastEvaluatedShardId == nil {
			break
		}
		in.ExclusiveStartShardId = d.StreamDescription.LastEvaluatedShardId
	}
	var records []streamtypes.Record
	for _, sh := range shards {
		it, err := c.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
			StreamArn: aws.String(arn), ShardId: sh.ShardId, ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			t.Fatalf("shard iterator: %v", err)
		}
		for iter := it.ShardIterator; iter != nil; {
			out, err := c.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatalf("get records: %v", err)
			}
			records = append(records, out.Records...)
			if len(out.Records) == 0 {
				break // caught up with an open shard
			}
			iter = out.NextShardIterator
		}
	}
	return records
}

type measurement struct {
	requests string // e.g. "1×Query 2×BatchGetItem"
	n        map[string]int
	units    float64
	gsi      map[string]float64
}

// measure runs op and returns the requests it made, as m counted them.
func measure(m *ddbmeter.Meter, op func() error) (measurement, error) {
	before := m.Read()
	err := op()
	d := m.Read().Since(before)
	var parts []string
	for o, n := range d.Ops {
		parts = append(parts, fmt.Sprintf("%d×%s", n, o))
	}
	sort.Strings(parts)
	return measurement{requests: strings.Join(parts, " "), n: d.Ops, units: d.Units, gsi: d.GSI}, err
}

// Requests per store operation, counted through SDK middleware. Transitions
// are computed with an uncounted store, so only the measured call counts.
func TestDynamoDBRequestsPerOperation(t *testing.T) {
	cnt := ddbmeter.New()
	client := storetest.LocalClient(t, cnt.Middleware)
	table := storetest.NewTable(t, client)
	s := store.NewDynamoDB(client, table)
	f := storetest.NewFixture(t, store.NewDynamoDB(storetest.LocalClient(t), table)) // uncounted
	ctx := context.Background()
	now := f.Now
	tn, _ := tenant.New("zulu", "Zulu", now)
	_, inv := tenant.NewInvite("acme", now, 0)
	const acct = "111111111111"
	for i := range 3 { // so listings have something to return
		f.MustSubmit("acme", fmt.Sprintf("arn:aws:iam::%012d:role/Filler", 200000000000+i))
	}
	apply := func(tr func() connection.Transition, want error) func() func() error {
		return func() func() error {
			x := tr()
			return func() error {
				if err := s.Apply(ctx, x); !errors.Is(err, want) && !(want == nil && err == nil) {
					return fmt.Errorf("apply: got %v, want %v", err, want)
				}
				return nil
			}
		}
	}
	submit := func(tid, arn string) func() connection.Transition {
		return func() connection.Transition {
			a := f.ARN(arn)
			return f.Policy.Submit(f.Current(tid, a.Account), tid, a, 1, f.Now)
		}
	}
	check := func(r connection.Result, at time.Duration) func() connection.Transition {
		return func() connection.Transition {
			c := f.Current("acme", acct)
			tr, err := f.Policy.Apply(*c, connection.Outcome{ExternalIDCurrent: true, Result: r, Version: c.Version, ExternalIDVersion: 1, CheckedAt: now.Add(at)})
			if err != nil {
				t.Fatal(err)
			}
			return tr
		}
	}
	call := func(op func() error) func() func() error { return func() func() error { return op } }
	var routine connection.Transition
	tests := []struct {
		name  string
		prep  func() func() error
		want  string
		event bool // a transition: exactly one TransactWriteItems
	}{
		{"CreateTenant", call(func() error { return s.CreateTenant(ctx, tn) }), "1×TransactWriteItems", false},
		{"GetTenant", call(func() error { _, err := s.GetTenant(ctx, "zulu"); return err }), "1×GetItem", false},
		{"RotateExternalID", call(func() error { return s.RotateExternalID(ctx, tn, tn.Rotated(now)) }), "1×TransactWriteItems", false},
		{"RotateExternalID, with a grace", call(func() error {
			cur, err := f.S.GetTenant(ctx, "zulu") // uncounted
			if err != nil {
				return err
			}
			return s.RotateExternalID(ctx, cur, cur.RotatedWithGrace(now, time.Hour))
		}), "1×TransactWriteItems", false},
		{"CompleteRotation", call(func() error {
			cur, err := f.S.GetTenant(ctx, "zulu") // uncounted
			if err != nil {
				return err
			}
			return s.CompleteRotation(ctx, cur, connection.CompletionAllCurrent, now)
		}), "1×TransactWriteItems", false},
		{"TenantEvents", call(func() error { _, err := s.TenantEvents(ctx, "zulu"); return err }), "1×Query", false},
		{"PutInvite", call(func() error { return s.PutInvite(ctx, inv) }), "1×TransactWriteItems", false},
		{"GetInvite", call(func() error { _, err := s.GetInvite(ctx, inv.Hash); return err }), "1×GetItem", false},
		{"ListInvites", call(func() error { _, err := s.ListInvites(ctx, "acme", "", 50); return err }), "1×Query", false},
		{"RevokeInvite", call(func() error { _, err := s.RevokeInvite(ctx, "acme", inv.ID); return err }), "1×GetItem 1×TransactWriteItems", false},
		{"CountLive (3 items)", call(func() error { _, err := s.CountLive(ctx, "acme"); return err }), "1×Query", false},
		{"Hit (rate limit)", call(func() error { _, err := s.Hit(ctx, "invite#x", now, 20, now.Add(time.Hour)); return err }), "1×UpdateItem", false},
		{"Apply: submit", apply(submit("acme", "arn:aws:iam::111111111111:role/Deploy"), nil), "1×TransactWriteItems", true},
		{"GetConnection", call(func() error { _, err := s.GetConnection(ctx, "acme", acct); return err }), "1×GetItem", false},
		// A failure count that changes is guarded by the tenant's
		// external-ID version: still one write request, no read.
		{"Apply: routine check, failure counted", apply(func() connection.Transition {
			routine = check(connection.ResultDenied, 10*time.Second)()
			if routine.Event != nil {
				t.Fatal("not a routine check")
			}
			return routine
		}, nil), "1×TransactWriteItems", false},
		{"Apply: routine check, stale failure count", apply(func() connection.Transition {
			return routine
		}, store.ErrConflict), "1×TransactWriteItems", false},
		{"Apply: routine check, transient", apply(check(connection.ResultTransient, 20*time.Second), nil), "1×UpdateItem", false},
		{"Apply: verified", apply(check(connection.ResultOK, time.Minute), nil), "1×TransactWriteItems", true},
		{"Apply: routine check, verified", apply(check(connection.ResultOK, time.Hour), nil), "1×UpdateItem", false},
		{"Apply: submit of a claimed role (accepted)", apply(submit("bravo", "arn:aws:iam::111111111111:role/deploy"), nil), "1×TransactWriteItems", true},
		{"Apply: verify a claimed role (refused)", apply(func() connection.Transition {
			f.Tenant("bravo")
			c := f.Current("bravo", acct)
			tr, err := f.Policy.Apply(*c, connection.Outcome{ExternalIDCurrent: true, Result: connection.ResultOK, Version: c.Version, ExternalIDVersion: 1, CheckedAt: now.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			return tr
		}, store.ErrRoleClaimed), "1×TransactWriteItems", true},
		{"Apply: another role for a verified connection (candidate)", apply(submit("acme", "arn:aws:iam::111111111111:role/Next"), nil), "1×TransactWriteItems", true},
		{"Apply: the candidate verifies (claim moves)", apply(func() connection.Transition {
			c := f.Current("acme", acct)
			tr, _, err := f.Policy.ApplyCandidate(*c, connection.Outcome{Result: connection.ResultOK, Version: c.Version, ExternalIDVersion: 1, ExternalIDCurrent: true, CheckedAt: now.Add(2 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			return tr
		}, nil), "1×TransactWriteItems", true},
		{"Apply: access lost", apply(check(connection.ResultDenied, 3*time.Hour), nil), "1×TransactWriteItems", false},
		{"Apply: access lost (2)", apply(check(connection.ResultDenied, 3*time.Hour+time.Minute), nil), "1×TransactWriteItems", true},
		{"Apply: resubmit another role (claim released)", apply(submit("acme", "arn:aws:iam::111111111111:role/Other"), nil), "1×TransactWriteItems", true},
		{"ListByTenant (4 items)", call(func() error { _, err := s.ListByTenant(ctx, "acme", "", 50); return err }), "1×Query", false},
		{"ListByStatus (4 items)", call(func() error { _, err := s.ListByStatus(ctx, connection.Pending, "", 50); return err }), "1×BatchGetItem 1×Query", false},
		{"Due", call(func() error { _, err := s.Due(ctx, 0, now.Add(time.Hour), "", 50); return err }), "1×Query", false},
		{"Events", call(func() error { _, err := s.Events(ctx, "acme", acct); return err }), "1×Query", false},
		{"ListTenants", call(func() error { _, err := s.ListTenants(ctx, "", 50); return err }), "1×BatchGetItem 1×Query", false},
		{"Apply: disconnect", apply(func() connection.Transition {
			return f.Policy.Disconnect(*f.Current("acme", acct), 1, now)
		}, nil), "1×TransactWriteItems", true},
	}
	t.Logf("%-45s %-24s %9s  %s", "operation", "requests", "capacity", "of which GSI")
	for _, tc := range tests {
		m, err := measure(cnt, tc.prep())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		t.Logf("%-45s %-24s %9.1f  %v", tc.name, m.requests, m.units, m.gsi)
		if m.requests != tc.want {
			t.Errorf("%s: requests %q, want %q", tc.name, m.requests, tc.want)
		}
		if reads := m.n["GetItem"] + m.n["Query"] + m.n["BatchGetItem"]; strings.HasPrefix(tc.name, "Apply") && reads != 0 {
			t.Errorf("%s read before writing", tc.name)
		}
	}

	// 100 tenants' connections race to verify one role: how many requests
	// the transaction conflicts cost.
	var wg sync.WaitGroup
	a := f.ARN("arn:aws:iam::123456789012:role/Shared")
	var verifications []connection.Transition
	for i := range 100 {
		c := f.MustSubmit(fmt.Sprintf("race-%03d", i), a.String())
		tr, err := f.Policy.Apply(c, connection.Outcome{ExternalIDCurrent: true, Result: connection.ResultOK, Version: c.Version, ExternalIDVersion: 1, CheckedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		verifications = append(verifications, tr)
	}
	m, _ := measure(cnt, func() error {
		for _, tr := range verifications {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = s.Apply(ctx, tr)
			}()
		}
		wg.Wait()
		return nil
	})
	t.Logf("%-45s %-24s %9.1f  %v", "100 concurrent verifications of one role", m.requests, m.units, m.gsi)
	if m.n["TransactWriteItems"] < 100 {
		t.Errorf("race: %s", m.requests)
	}
}

// getItem reads a raw item.
func getItem(t *testing.T, c *dynamodb.Client, table, pk, sk string) map[string]ddbtypes.AttributeValue {
	t.Helper()
	out, err := c.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{store.AttrPK: &ddbtypes.AttributeValueMemberS{Value: pk}, store.AttrSK: &ddbtypes.AttributeValueMemberS{Value: sk}}})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

func str(item map[string]ddbtypes.AttributeValue, attr string) string {
	switch v := item[attr].(type) {
	case *ddbtypes.AttributeValueMemberS:
		return v.Value
	case *ddbtypes.AttributeValueMemberN:
		return v.Value
	}
	return ""
}

// The documented item layout, seen from outside the adapter.
func TestDynamoDBItemLayout(t *testing.T) {
	s, client, table := storetest.NewLocalDynamoDB(t)
	ctx := context.Background()
	f := storetest.NewFixture(t, s)
	tn, _ := tenant.New("acme", "Acme", f.Now)
	if err := s.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	_, inv := tenant.NewInvite("acme", f.Now, time.Hour)
	if err := s.PutInvite(ctx, inv); err != nil {
		t.Fatal(err)
	}
	f.MustSubmit("acme", "arn:aws:iam::111111111111:role/path/Deploy")
	if item := getItem(t, client, table, "CLAIM#111111111111/deploy", "CLAIM"); item != nil {
		t.Fatalf("a submission claimed the role: %v", item)
	}
	c := f.MustCheck("acme", "111111111111", connection.ResultOK).After // claims
	tests := []struct {
		name, pk, sk string
		want         map[string]string
	}{
		{"tenant", "TENANT#acme", "TENANT", map[string]string{"kind": "tenant", "externalId": tn.ExternalID, "externalIdVersion": "1"}},
		{"external id", "EXTID#" + tn.ExternalID, "EXTID", map[string]string{"kind": "extid", "tenantId": "acme"}},
		{"invite", "INVITE#" + inv.Hash, "INVITE", map[string]string{"kind": "invite", "tenantId": "acme",
			store.AttrTTL: fmt.Sprint(inv.ExpiresAt.Add(store.InviteGrace).Unix())}},
		{"connection", "TENANT#acme", "CONN#111111111111", map[string]string{"kind": "connection", "status": "VERIFIED", "version": "2",
			store.AttrStatusPK: "VERIFIED", store.AttrStatusSK: "acme#111111111111",
			store.AttrDueShard: fmt.Sprintf("DUE#%d", store.ShardOf("acme", "111111111111")),
			store.AttrDueAt:    c.NextCheckAt.Format("2006-01-02T15:04:05.000000000Z") + "#acme#111111111111"}},
		{"claim", "CLAIM#111111111111/deploy", "CLAIM", map[string]string{"kind": "claim", "tenantId": "acme", "accountId": "111111111111"}},
		{"event", "TENANT#acme", "EVENT#111111111111#00000000000000000001", map[string]string{"kind": store.KindEvent,
			"detailType": "Role Submitted", "version": "1", store.AttrTTL: fmt.Sprint(f.Now.Add(store.EventRetention).Unix())}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			item := getItem(t, client, table, tc.pk, tc.sk)
			if item == nil {
				t.Fatalf("no item %s / %s", tc.pk, tc.sk)
			}
			for attr, want := range tc.want {
				if got := str(item, attr); got != want {
					t.Errorf("%s = %q, want %q", attr, got, want)
				}
			}
		})
	}
	// Disconnecting takes the connection out of the due index and releases
	// the claim.
	if _, err := f.Disconnect("acme", "111111111111"); err != nil {
		t.Fatal(err)
	}
	item := getItem(t, client, table, "TENANT#acme", "CONN#111111111111")
	if _, ok := item[store.AttrDueShard]; ok {
		t.Error("disconnected connection still has a due shard")
	}
	if _, ok := item[store.AttrDueAt]; ok {
		t.Error("disconnected connection still has a due time")
	}
	if getItem(t, client, table, "CLAIM#111111111111/deploy", "CLAIM") != nil {
		t.Error("claim not released")
	}
	// Only event items have kind=event.
	out, err := client.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range out.Items {
		if isEvent := strings.HasPrefix(str(it, store.AttrSK), "EVENT#"); isEvent != (str(it, store.AttrKind) == store.KindEvent) {
			t.Errorf("item %s / %s has kind %q", str(it, store.AttrPK), str(it, store.AttrSK), str(it, store.AttrKind))
		}
	}
}

// A claim the table says belongs to someone else (only possible by editing
// the table) is neither deleted nor allowed to block the owner's change.
func TestDynamoDBForeignOldClaim(t *testing.T) {
	s, client, table := storetest.NewLocalDynamoDB(t)
	ctx := context.Background()
	f := storetest.NewFixture(t, s)
	f.MustSubmit("acme", "arn:aws:iam::111111111111:role/A")
	f.MustSubmit("acme", "arn:aws:iam::222222222222:role/B")
	f.MustCheck("acme", "111111111111", connection.ResultOK) // claims
	f.MustCheck("acme", "222222222222", connection.ResultOK)
	// Hand edits: A's claim now names another owner, B's claim is gone.
	_, err := client.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table),
		Key:                       map[string]ddbtypes.AttributeValue{store.AttrPK: &ddbtypes.AttributeValueMemberS{Value: "CLAIM#111111111111/a"}, store.AttrSK: &ddbtypes.AttributeValueMemberS{Value: "CLAIM"}},
		UpdateExpression:          aws.String("SET tenantId = :t"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":t": &ddbtypes.AttributeValueMemberS{Value: "intruder"}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table),
		Key: map[string]ddbtypes.AttributeValue{store.AttrPK: &ddbtypes.AttributeValueMemberS{Value: "CLAIM#222222222222/b"}, store.AttrSK: &ddbtypes.AttributeValueMemberS{Value: "CLAIM"}}})
	if err != nil {
		t.Fatal(err)
	}
	f.MustSubmit("acme", "arn:aws:iam::111111111111:role/C") // a candidate: claims nothing yet
	if _, err := f.CheckCandidate("acme", "111111111111", connection.ResultOK); err != nil {
		t.Fatalf("candidate replaces A: %v", err)
	}
	if got := str(getItem(t, client, table, "CLAIM#111111111111/a", "CLAIM"), "tenantId"); got != "intruder" {
		t.Errorf("foreign claim owner is now %q", got)
	}
	if got := str(getItem(t, client, table, "CLAIM#111111111111/c", "CLAIM"), "tenantId"); got != "acme" {
		t.Errorf("new claim owner is %q", got)
	}
	if _, err := f.Disconnect("acme", "222222222222"); err != nil {
		t.Fatalf("disconnect with a missing claim: %v", err)
	}
}

func TestDynamoDBRegistrationsContract(t *testing.T) {
	client := storetest.LocalClient(t)
	storetest.RunRegistrations(t, func(t *testing.T) store.Registrations {
		return store.NewDynamoDB(client, storetest.NewTable(t, client))
	})
}

// lagClient runs hook before its first BatchGetItem: a write landing
// between ListByStatus's read of the byStatus index and its reads of the
// items, as the index's replication lag lets happen at any time in AWS
// (DynamoDB Local updates its indexes at once).
type lagClient struct {
	*dynamodb.Client
	once sync.Once
	hook func()
}

func (c *lagClient) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	c.once.Do(c.hook)
	return c.Client.BatchGetItem(ctx, in, optFns...)
}

// TestListByStatusReadsOnPastChangedItems: a page whose indexed items
// changed status before they were read is filled from the index's next
// entries, so a page is short or empty only at the end, as Memory's are
// (a client paging until an empty page would stop early otherwise).
func TestListByStatusReadsOnPastChangedItems(t *testing.T) {
	for _, limit := range []int{1, 2} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			client := storetest.LocalClient(t)
			lc := &lagClient{Client: client}
			s := store.NewDynamoDB(lc, storetest.NewTable(t, client))
			f := storetest.NewFixture(t, s)
			accounts := []string{"111111111111", "222222222222", "333333333333", "444444444444"}
			for _, a := range accounts {
				f.MustSubmit("acme", "arn:aws:iam::"+a+":role/R")
			}
			// The first entries of the index verify meanwhile.
			lc.hook = func() {
				for _, a := range accounts[:limit] {
					f.MustCheck("acme", a, connection.ResultOK)
				}
			}
			var listed []string
			cursor := ""
			for page := 0; ; page++ {
				p, err := s.ListByStatus(f.Ctx, connection.Pending, cursor, limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Items) < limit && p.Cursor != "" {
					t.Fatalf("page %d: %d items with a cursor, want %d", page, len(p.Items), limit)
				}
				for _, c := range p.Items {
					listed = append(listed, c.AccountID)
				}
				if cursor = p.Cursor; cursor == "" {
					break
				}
			}
			if fmt.Sprint(listed) != fmt.Sprint(accounts[limit:]) {
				t.Fatalf("listed %v, want the still pending %v", listed, accounts[limit:])
			}
		})
	}
}
