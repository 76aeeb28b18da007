package awsfake_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/testkit/awsfake"
)

func TestDynamoDBIsAnEmptyTable(t *testing.T) {
	fake := awsfake.NewDynamoDB()
	c := dynamodb.NewFromConfig(awsfake.Serve(t, fake, 1))
	ctx := context.Background()
	key := map[string]ddbtypes.AttributeValue{"PK": &ddbtypes.AttributeValueMemberS{Value: "x"}}
	got, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("t"), Key: key})
	if err != nil || got.Item != nil {
		t.Fatalf("GetItem = %v, %v", got.Item, err)
	}
	q, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("t"), IndexName: aws.String("due")})
	if err != nil || len(q.Items) != 0 {
		t.Fatalf("Query = %v, %v", q, err)
	}
	if _, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("t"), Key: key}); err != nil {
		t.Fatal(err)
	}
	calls := fake.Calls()
	if len(calls) != 3 || calls[1].Op != "Query" || calls[1].Body["IndexName"] != "due" {
		t.Errorf("calls = %+v", calls)
	}
}

func TestSTSDenies(t *testing.T) {
	fake := awsfake.NewSTS()
	a := &probe.STS{Client: sts.NewFromConfig(awsfake.Serve(t, fake, 1))}
	_, err := a.AssumeRole(context.Background(), probe.AssumeRequest{RoleARN: "arn:aws:iam::123456789012:role/R", ExternalID: "rc-X", SessionName: "rolecall-t", DurationSeconds: 900})
	if !errors.Is(err, probe.ErrDenied) {
		t.Fatalf("AssumeRole error = %v, want ErrDenied", err)
	}
	calls := fake.Calls()
	if len(calls) != 1 || calls[0].Get("ExternalId") != "rc-X" || calls[0].Get("RoleArn") != "arn:aws:iam::123456789012:role/R" {
		t.Errorf("calls = %v", calls)
	}
}

func TestSTSCallerIdentity(t *testing.T) {
	fake := awsfake.NewSTS()
	c := sts.NewFromConfig(awsfake.Serve(t, fake, 1))
	if _, err := c.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}); err == nil {
		t.Fatal("GetCallerIdentity without a caller succeeded")
	}
	const arn = "arn:aws:sts::111122223333:assumed-role/RoleCallVerifier/s-1"
	fake.SetCaller(arn)
	out, err := c.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(out.Arn) != arn || aws.ToString(out.Account) != "111122223333" || aws.ToString(out.UserId) == "" {
		t.Fatalf("GetCallerIdentity = %+v, %v", out, err)
	}
	if calls := fake.Calls(); len(calls) != 2 || calls[1].Get("Action") != "GetCallerIdentity" {
		t.Errorf("calls = %v", calls)
	}
}

// A granted role is assumed with fake session credentials; any other role
// stays denied.
func TestSTSGrants(t *testing.T) {
	const role = "arn:aws:iam::123456789012:role/R"
	fake := awsfake.NewSTS()
	fake.Grant(role)
	c := sts.NewFromConfig(awsfake.Serve(t, fake, 1))
	out, err := c.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("rolecall-t")})
	if err != nil || out.Credentials == nil || aws.ToString(out.Credentials.AccessKeyId) == "" || out.AssumedRoleUser == nil {
		t.Fatalf("AssumeRole of a granted role = %+v, %v", out, err)
	}
	_, err = c.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/Other"), RoleSessionName: aws.String("rolecall-t")})
	if err == nil {
		t.Fatal("AssumeRole of a role not granted succeeded")
	}
}

// A long poll on the empty fake queue signals that it waits, and a message
// sent then ends it with the message.
func TestSQSLongPollSignalsAndWakes(t *testing.T) {
	fake := awsfake.NewSQS()
	c := sqs.NewFromConfig(awsfake.Serve(t, fake, 1))
	ctx := context.Background()
	url := aws.String("https://sqs.us-east-1.amazonaws.com/111122223333/q")
	got := make(chan []sqstypes.Message, 1)
	go func() {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: url, WaitTimeSeconds: 20, MaxNumberOfMessages: 1})
		if err != nil {
			t.Errorf("ReceiveMessage: %v", err)
			got <- nil
			return
		}
		got <- out.Messages
	}()
	<-fake.Polling()
	if _, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: url, Entries: []sqstypes.SendMessageBatchRequestEntry{{Id: aws.String("0"), MessageBody: aws.String("job")}}}); err != nil {
		t.Fatal(err)
	}
	if msgs := <-got; len(msgs) != 1 || aws.ToString(msgs[0].Body) != "job" {
		t.Errorf("the long poll received %+v, want the message sent while it waited", msgs)
	}
}
