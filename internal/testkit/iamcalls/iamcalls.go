// Package iamcalls holds template.yaml's function roles against what the
// code does: a Recorder, added to a DynamoDB client as SDK middleware,
// writes down the IAM action and resource each call needs (a
// TransactWriteItems call needs one action per item: ConditionCheckItem,
// PutItem, UpdateItem or DeleteItem, as the DynamoDB Developer Guide's
// "Using IAM with DynamoDB transactions" says) and which function made it,
// told by the call's stack: the innermost frame in a handler package
// (httpapi for the API function, verify, sweep, register, publish). Grants
// renders a role's inline statements in the same form, so a test can ask
// whether every call a scenario made is allowed by its function's role.
//
// Written here because no library maps SDK calls to IAM actions offline;
// IAM Access Analyzer's policy generation reads CloudTrail in an account.
package iamcalls

import (
	"context"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	"github.com/rolecall/rolecall/internal/stack"
)

// Table is how a call on the recorder's table names its resource, as
// Grants renders the template's !GetAtt Table.Arn.
const Table = "GetAtt:Table.Arn"

// Index is how a query of one of the table's indexes names its resource,
// as Grants renders !Sub ${Table.Arn}/index/<name>.
func Index(name string) string { return "Sub:${Table.Arn}/index/" + name }

// Call is one IAM action a function's code needed: "dynamodb:PutItem" on
// Table. Function is the role of the function that made the call
// ("VerifyFunctionRole"); "" when no handler package was on the stack.
type Call struct {
	Function, Action, Resource string
}

func (c Call) String() string { return c.Function + ": " + c.Action + " " + c.Resource }

// Recorder records the calls of the DynamoDB clients it is added to. It is
// safe for concurrent use.
type Recorder struct {
	table     string
	functions map[string]string // handler package path -> function role
	mu        sync.Mutex
	calls     map[Call]bool
}

// New returns a Recorder of calls on table, attributing them with
// functions: handler package import path -> the role of the function that
// runs it.
func New(table string, functions map[string]string) *Recorder {
	return &Recorder{table: table, functions: functions, calls: map[Call]bool{}}
}

// Calls returns the distinct calls recorded, sorted.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.SortedFunc(maps.Keys(r.calls), func(a, b Call) int { return strings.Compare(a.String(), b.String()) })
}

// Middleware adds the recorder to a client's middleware stack; use it as
// an entry of the DynamoDB client's APIOptions. It runs before the call is
// sent, on the caller's goroutine, so the stack it reads is the caller's.
func (r *Recorder) Middleware(s *middleware.Stack) error {
	return s.Initialize.Add(middleware.InitializeMiddlewareFunc("iamcallsRecord",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			fn := r.function()
			r.mu.Lock()
			for _, c := range r.needs(awsmiddleware.GetOperationName(ctx), in.Parameters) {
				c.Function = fn
				r.calls[c] = true
			}
			r.mu.Unlock()
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
}

// function is the role of the innermost handler package on the caller's
// stack.
func (r *Recorder) function() string {
	pcs := make([]uintptr, 128)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	for {
		f, more := frames.Next()
		if role, ok := r.functions[packageOf(f.Function)]; ok {
			return role
		}
		if !more {
			return ""
		}
	}
}

// packageOf is the import path of a function's package, from its
// qualified name ("example.com/a/b.(*T).M" -> "example.com/a/b").
func packageOf(fn string) string {
	slash := strings.LastIndex(fn, "/")
	if dot := strings.Index(fn[slash+1:], "."); dot >= 0 {
		return fn[:slash+1+dot]
	}
	return fn
}

// needs are the actions a call of op with input in needs, each on its
// resource.
func (r *Recorder) needs(op string, in any) []Call {
	on := func(action, table string) Call {
		res := "table " + table
		if table == r.table {
			res = Table
		}
		return Call{Action: "dynamodb:" + action, Resource: res}
	}
	switch p := in.(type) {
	case *dynamodb.QueryInput:
		c := on(op, deref(p.TableName))
		if p.IndexName != nil && c.Resource == Table {
			c.Resource = Index(*p.IndexName)
		}
		return []Call{c}
	case *dynamodb.ScanInput:
		c := on(op, deref(p.TableName))
		if p.IndexName != nil && c.Resource == Table {
			c.Resource = Index(*p.IndexName)
		}
		return []Call{c}
	case *dynamodb.BatchGetItemInput:
		var out []Call
		for t := range p.RequestItems {
			out = append(out, on(op, t))
		}
		return out
	case *dynamodb.BatchWriteItemInput:
		var out []Call
		for t := range p.RequestItems {
			out = append(out, on(op, t))
		}
		return out
	case *dynamodb.TransactWriteItemsInput:
		var out []Call
		for _, it := range p.TransactItems {
			switch {
			case it.ConditionCheck != nil:
				out = append(out, on("ConditionCheckItem", deref(it.ConditionCheck.TableName)))
			case it.Put != nil:
				out = append(out, on("PutItem", deref(it.Put.TableName)))
			case it.Update != nil:
				out = append(out, on("UpdateItem", deref(it.Update.TableName)))
			case it.Delete != nil:
				out = append(out, on("DeleteItem", deref(it.Delete.TableName)))
			}
		}
		return out
	case *dynamodb.TransactGetItemsInput:
		var out []Call
		for _, it := range p.TransactItems {
			if it.Get != nil {
				out = append(out, on("GetItem", deref(it.Get.TableName)))
			}
		}
		return out
	case *dynamodb.GetItemInput:
		return []Call{on(op, deref(p.TableName))}
	case *dynamodb.PutItemInput:
		return []Call{on(op, deref(p.TableName))}
	case *dynamodb.UpdateItemInput:
		return []Call{on(op, deref(p.TableName))}
	case *dynamodb.DeleteItemInput:
		return []Call{on(op, deref(p.TableName))}
	}
	// An operation this table does not know: recorded by name, on no
	// resource, so that no role grants it by accident.
	return []Call{{Action: "dynamodb:" + op, Resource: "?"}}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Grants renders the inline statements of a role of the template as
// "Effect action resource", resources in Canon's form, sorted.
func Grants(t stack.Template, role string) ([]string, error) {
	r, ok := t.Resources("AWS::IAM::Role")[role]
	if !ok {
		return nil, fmt.Errorf("template has no role %s", role)
	}
	var out []string
	pols, _ := stack.Properties(r)["Policies"].([]any)
	for _, pol := range pols {
		doc, _ := asMap(pol)["PolicyDocument"].(map[string]any)
		for _, s := range Statements(doc) {
			st := asMap(s)
			for _, a := range asList(st["Action"]) {
				for _, res := range asList(st["Resource"]) {
					out = append(out, fmt.Sprintf("%v %v %s", st["Effect"], a, Canon(res)))
				}
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// Statements returns a policy document's statements with every branch of
// a conditional (Fn::If) statement, for checks that hold whatever the
// parameters.
func Statements(doc map[string]any) []any {
	var out []any
	for _, s := range asList(doc["Statement"]) {
		if branches, ok := asMap(s)["Fn::If"].([]any); ok && len(branches) == 3 {
			for _, b := range branches[1:] {
				if r := asMap(b)["Ref"]; r != "AWS::NoValue" || len(asMap(b)) != 1 {
					out = append(out, b)
				}
			}
			continue
		}
		out = append(out, s)
	}
	return out
}

// Canon renders a policy value (a string or an intrinsic function) as a
// comparable string: "*", "GetAtt:Table.Arn", "Sub:${Table.Arn}/index/due",
// "Ref:AlertTopic".
func Canon(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if r, ok := x["Ref"]; ok {
			return "Ref:" + fmt.Sprint(r)
		}
		if g, ok := x["Fn::GetAtt"].([]any); ok && len(g) == 2 {
			return fmt.Sprintf("GetAtt:%v.%v", g[0], g[1])
		}
		if s, ok := x["Fn::Sub"].(string); ok {
			return "Sub:" + s
		}
	}
	return fmt.Sprintf("?%v", v)
}

// Missing returns the calls of calls that were made by a function and that
// its role's grants do not allow ("Allow action resource").
func Missing(t stack.Template, calls []Call) ([]Call, error) {
	grants := map[string][]string{}
	var out []Call
	for _, c := range calls {
		if c.Function == "" {
			continue
		}
		g, ok := grants[c.Function]
		if !ok {
			var err error
			if g, err = Grants(t, c.Function); err != nil {
				return nil, err
			}
			grants[c.Function] = g
		}
		if !slices.Contains(g, "Allow "+c.Action+" "+c.Resource) {
			out = append(out, c)
		}
	}
	return out, nil
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }

// asList is a policy element as a list: one value or several.
func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}
