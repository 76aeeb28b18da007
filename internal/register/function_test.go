package register_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/rolecall/rolecall"
	"github.com/rolecall/rolecall/internal/app"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/register"
	"github.com/rolecall/rolecall/internal/stack"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/store/storetest"
	"github.com/rolecall/rolecall/internal/testkit/iamcalls"
)

const rvAcct, rvRole = "111122223333", "arn:aws:iam::111122223333:role/RoleCallAccess"

// rvSender accepts every answer.
type rvSender struct{}

func (rvSender) Accept(string) error                           { return nil }
func (rvSender) AnswerTimeout() time.Duration                  { return time.Second }
func (rvSender) Respond(context.Context, string, []byte) error { return nil }

// rvEnv: the register function's handler as app.NewRegister builds it over
// st (no queue), a tenant and token made through setup, a Create/Update
// message of a resource, and a check applied through setup.
// rvEnv is a registration function as deployed, over st, and a service
// over setup that made tenant acme and its token.
type rvEnv struct {
	h     *register.Handler
	msg   func(typ, resource, physical string) []byte
	check func(connection.Result) connection.Connection
}

func newRvEnv(t *testing.T, st, setup storetest.Adapter) rvEnv {
	ctx, pol := context.Background(), connection.DefaultPolicy()
	h, err := app.NewRegister(app.Register{Partner: app.Partner{AccountID: "999988887777", TrustedPrincipalARN: "arn:aws:iam::999988887777:role/V"},
		Policy: pol, Wait: time.Millisecond, Poll: time.Millisecond}, app.Components{Region: "us-east-1", Store: st, Registrations: st})
	if err != nil {
		t.Fatal(err)
	}
	h.Sender = rvSender{}
	svc := &onboarding.Service{Store: setup, Queue: queue.NewMemory(), Policy: pol, Rules: app.Rules("aws", "999988887777")}
	tn, err := svc.CreateTenant(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := (&onboarding.Registrations{Service: svc, Tokens: setup}).CreateToken(ctx, "acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	return rvEnv{h: h,
		msg: func(typ, resource, physical string) []byte {
			p := map[string]any{"ServiceToken": "arn:aws:sns:us-east-1:999988887777:t", "RoleArn": rvRole, "RegistrationToken": secret}
			m := map[string]any{"RequestType": typ, "RequestId": typ + resource, "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x",
				"ResourceType": register.ResourceType, "LogicalResourceId": resource, "ResourceProperties": p,
				"StackId": "arn:aws:cloudformation:us-east-1:111122223333:stack/rc/0a1b2c3d-4e5f-6789-abcd-ef0123456789"}
			if physical != "" {
				m["PhysicalResourceId"], m["OldResourceProperties"] = physical, p
			}
			b, _ := json.Marshal(m)
			return b
		},
		check: func(r connection.Result) connection.Connection {
			c, err := setup.GetConnection(ctx, "acme", rvAcct)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := pol.Apply(c, connection.Outcome{Result: r, Version: c.Version, ExternalIDVersion: tn.ExternalIDVersion, ExternalIDCurrent: true, CheckedAt: time.Now()})
			if err == nil {
				err = setup.Apply(ctx, tr)
			}
			if err != nil {
				t.Fatal(err)
			}
			return tr.After
		}}
}

// An Update re-registering an ACCESS_LOST connection's role now queues a
// check, on the register function's nil Queue.
// TestStackResubmitsAnAccessLostRole: the registration function, built as
// deployed (its onboarding service has no queue), takes a stack's Update
// that registers again the role of an ACCESS_LOST connection: the
// connection keeps its claim and its next check is brought forward, for
// the sweep to pick up; nothing panics.
func TestStackResubmitsAnAccessLostRole(t *testing.T) {
	st := storetest.NewMemory()
	e := newRvEnv(t, st, st)
	if err := e.h.HandleMessage(context.Background(), e.msg("Create", "Registration", "")); err != nil {
		t.Fatal(err)
	}
	for c := e.check(connection.ResultOK); c.Status != connection.AccessLost; c = e.check(connection.ResultDenied) {
	}
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		return e.h.HandleMessage(context.Background(), e.msg("Update", "Registration", "acme/"+rvAcct))
	}()
	if err != nil {
		t.Fatalf("Update re-registering the ACCESS_LOST role: %v", err)
	}
	c, err := st.GetConnection(context.Background(), "acme", rvAcct)
	if err != nil || c.Status != connection.AccessLost || !c.HoldsClaim() || c.NextCheckAt.After(time.Now().Add(time.Minute)) {
		t.Fatalf("after the Update: %+v, %v; want ACCESS_LOST, its claim held, checked within a minute", c, err)
	}
}

// The renamed resource's Create takes the registration over with an
// UpdateItem, which RegisterFunctionRole does not grant.
// TestTakeoverIsAllowedByTheTemplate: the DynamoDB calls the registration
// function makes when a stack's new registration resource takes the
// registration over are allowed by template.yaml's RegisterFunctionRole.
func TestTakeoverIsAllowedByTheTemplate(t *testing.T) {
	plain, _, table := storetest.NewLocalDynamoDB(t)
	rec := iamcalls.New(table, map[string]string{"github.com/rolecall/rolecall/internal/register": "RegisterFunctionRole"})
	e := newRvEnv(t, store.NewDynamoDB(storetest.LocalClient(t, rec.Middleware), table), plain)
	ctx := context.Background()
	if err := e.h.HandleMessage(ctx, e.msg("Create", "Registration", "")); err != nil {
		t.Fatal(err)
	}
	e.check(connection.ResultOK)
	if err := e.h.HandleMessage(ctx, e.msg("Create", "Renamed", "")); err != nil {
		t.Fatal(err)
	}
	if c, _ := plain.GetConnection(ctx, "acme", rvAcct); c.StackResource != "Renamed" {
		t.Fatalf("stackResource %q", c.StackResource)
	}
	tmpl, err := stack.ParseTemplate("template.yaml", rolecall.Template())
	if err != nil {
		t.Fatal(err)
	}
	if missing, err := iamcalls.Missing(tmpl, rec.Calls()); err != nil || len(missing) > 0 {
		t.Fatalf("template.yaml does not allow %v (%v)", missing, err)
	}
}
