package iamcalls

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/rolecall/rolecall/internal/stack"
)

func TestNeeds(t *testing.T) {
	r := New("T", nil)
	tests := []struct {
		name string
		op   string
		in   any
		want []Call
	}{
		{"get", "GetItem", &dynamodb.GetItemInput{TableName: aws.String("T")}, []Call{{Action: "dynamodb:GetItem", Resource: Table}}},
		{"query of the table", "Query", &dynamodb.QueryInput{TableName: aws.String("T")}, []Call{{Action: "dynamodb:Query", Resource: Table}}},
		{"query of an index", "Query", &dynamodb.QueryInput{TableName: aws.String("T"), IndexName: aws.String("due")},
			[]Call{{Action: "dynamodb:Query", Resource: "Sub:${Table.Arn}/index/due"}}},
		{"another table", "PutItem", &dynamodb.PutItemInput{TableName: aws.String("U")}, []Call{{Action: "dynamodb:PutItem", Resource: "table U"}}},
		{"transaction: one action per item", "TransactWriteItems", &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
			{ConditionCheck: &ddbtypes.ConditionCheck{TableName: aws.String("T")}},
			{Put: &ddbtypes.Put{TableName: aws.String("T")}},
			{Update: &ddbtypes.Update{TableName: aws.String("T")}},
			{Delete: &ddbtypes.Delete{TableName: aws.String("T")}},
		}}, []Call{{Action: "dynamodb:ConditionCheckItem", Resource: Table}, {Action: "dynamodb:PutItem", Resource: Table},
			{Action: "dynamodb:UpdateItem", Resource: Table}, {Action: "dynamodb:DeleteItem", Resource: Table}}},
		{"batch get", "BatchGetItem", &dynamodb.BatchGetItemInput{RequestItems: map[string]ddbtypes.KeysAndAttributes{"T": {}}},
			[]Call{{Action: "dynamodb:BatchGetItem", Resource: Table}}},
		{"an operation not modelled", "DescribeTable", &dynamodb.DescribeTableInput{TableName: aws.String("T")},
			[]Call{{Action: "dynamodb:DescribeTable", Resource: "?"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.needs(tt.op, tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("needs = %v, want %v", got, tt.want)
			}
		})
	}
}

// errSent ends a call before it leaves the process.
var errSent = errors.New("not sent")

// A call through a real client is recorded with the innermost handler
// package on the caller's stack: this test package's.
func TestMiddlewareAttributesCallsToTheCaller(t *testing.T) {
	r := New("T", map[string]string{"github.com/rolecall/rolecall/internal/testkit/iamcalls": "TestRole"})
	client := dynamodb.New(dynamodb.Options{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""),
		HTTPClient: failingClient{}, APIOptions: []func(*middleware.Stack) error{r.Middleware}, RetryMaxAttempts: 1})
	_, err := client.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String("T"),
		Key: map[string]ddbtypes.AttributeValue{"PK": &ddbtypes.AttributeValueMemberS{Value: "k"}}})
	if !errors.Is(err, errSent) {
		t.Fatalf("GetItem: %v, want the transport's error", err)
	}
	_, err = client.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: aws.String("T"),
		Key: map[string]ddbtypes.AttributeValue{"PK": &ddbtypes.AttributeValueMemberS{Value: "k"}}})
	if !errors.Is(err, errSent) {
		t.Fatalf("DeleteItem: %v, want the transport's error", err)
	}
	// Sorted by their text, whatever the order they were made in.
	want := []Call{{Function: "TestRole", Action: "dynamodb:DeleteItem", Resource: Table}, {Function: "TestRole", Action: "dynamodb:GetItem", Resource: Table}}
	if got := r.Calls(); !slices.Equal(got, want) {
		t.Errorf("Calls = %v, want %v", got, want)
	}
	if got := want[0].String(); got != "TestRole: dynamodb:DeleteItem "+Table {
		t.Errorf("String = %q", got)
	}
}

type failingClient struct{}

func (failingClient) Do(*http.Request) (*http.Response, error) { return nil, errSent }

func TestMissing(t *testing.T) {
	tmpl, err := stack.ParseTemplate("t.yaml", []byte(`
Resources:
  FnRole:
    Type: AWS::IAM::Role
    Properties:
      Policies:
        - PolicyName: p
          PolicyDocument:
            Statement:
              - Effect: Allow
                Action: [dynamodb:GetItem]
                Resource: !GetAtt Table.Arn
              - !If
                - Cond
                - Effect: Allow
                  Action: dynamodb:Query
                  Resource: !Sub ${Table.Arn}/index/due
                - !Ref AWS::NoValue
`))
	if err != nil {
		t.Fatal(err)
	}
	calls := []Call{
		{Function: "FnRole", Action: "dynamodb:GetItem", Resource: Table},
		{Function: "FnRole", Action: "dynamodb:Query", Resource: Index("due")},
		{Function: "FnRole", Action: "dynamodb:PutItem", Resource: Table},
		{Action: "dynamodb:DescribeTable", Resource: "?"}, // no function: not held against a role
	}
	got, err := Missing(tmpl, calls)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Call{calls[2]}; !slices.Equal(got, want) {
		t.Errorf("Missing = %v, want %v", got, want)
	}
	if _, err := Missing(tmpl, []Call{{Function: "NoSuchRole", Action: "dynamodb:GetItem", Resource: Table}}); err == nil {
		t.Error("Missing of a role the template lacks: no error")
	}
}
