package emulator

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/middleware"

	"github.com/rolecall/rolecall"
	"github.com/rolecall/rolecall/internal/app"
	"github.com/rolecall/rolecall/internal/stack"
	"github.com/rolecall/rolecall/internal/testkit/iamcalls"
)

// functionRoles are the roles template.yaml runs each handler package
// with.
var functionRoles = map[string]string{
	"github.com/rolecall/rolecall/internal/httpapi":  "ApiFunctionRole",
	"github.com/rolecall/rolecall/internal/publish":  "PublishFunctionRole",
	"github.com/rolecall/rolecall/internal/register": "RegisterFunctionRole",
	"github.com/rolecall/rolecall/internal/sweep":    "SweepFunctionRole",
	"github.com/rolecall/rolecall/internal/verify":   "VerifyFunctionRole",
}

// callRecording records the DynamoDB calls of a stack's store.
type callRecording struct {
	rec            *iamcalls.Recorder
	endpoint, name string
}

func recordCalls(t *testing.T, endpoint, table string) *callRecording {
	t.Helper()
	return &callRecording{rec: iamcalls.New(table, functionRoles), endpoint: endpoint, name: table}
}

// install replaces the stack's store (and registrations) with the same
// table through a client the recorder watches.
func (c *callRecording) install(st *Stack) {
	cfg := aws.Config{Region: st.opts.Region, BaseEndpoint: aws.String(c.endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		APIOptions:  []func(*middleware.Stack) error{c.rec.Middleware}}
	table := app.DynamoDBTable(cfg, c.name)
	st.Components.Store = table.Store
	st.Components.Registrations = registrationsOf(table.Store)
}

// holdRoles fails the test when a call a function made is not allowed by
// its role in template.yaml, or when a function of want made no call (the
// recording would then prove nothing of it).
func (c *callRecording) holdRoles(t *testing.T, want ...string) {
	t.Helper()
	tmpl, err := stack.ParseTemplate("template.yaml", rolecall.Template())
	if err != nil {
		t.Fatal(err)
	}
	calls := c.rec.Calls()
	made := map[string]bool{}
	for _, call := range calls {
		made[call.Function] = true
	}
	for _, fn := range want {
		if !made[fn] {
			t.Errorf("no DynamoDB call of %s was recorded; recorded:\n%v", fn, calls)
		}
	}
	missing, err := iamcalls.Missing(tmpl, calls)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		var b strings.Builder
		for _, m := range missing {
			b.WriteString("\n  " + m.String())
		}
		t.Errorf("template.yaml's roles do not allow calls their functions made:%s", b.String())
	}
}
