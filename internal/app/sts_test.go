package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/stsbudget"
	"github.com/rolecall/rolecall/internal/sweep"
)

// stsCalls is a stand-in STS endpoint that answers every AssumeRole with a
// session and records, per call, the role asked for and the access key
// that signed it.
type stsCalls struct {
	mu    sync.Mutex
	calls []string // "<access key> <role ARN>"
}

func (s *stsCalls) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	_, cred, _ := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	key, _, _ := strings.Cut(cred, "/")
	role := r.PostForm.Get("RoleArn")
	s.mu.Lock()
	s.calls = append(s.calls, key+" "+role)
	n := len(s.calls)
	s.mu.Unlock()
	account, name := strings.Split(role, ":")[4], role[strings.LastIndexByte(role, '/')+1:]
	fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>ASIASESSION%d</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::%s:assumed-role/%s/s</Arn><AssumedRoleId>AROAX:s</AssumedRoleId></AssumedRoleUser>
</AssumeRoleResult></AssumeRoleResponse>`, n, account, name)
}

// The two STS parts differ only in who signs the checks: AccessRoleSTS
// chains through one session of the access role (assumed with the base
// credentials, as the verify Lambda does), CallerSTS signs with the base
// credentials themselves. Both call the configuration's endpoint.
func TestSTSPartsSignAsTheirPrincipal(t *testing.T) {
	const accessRole = "arn:aws:iam::111122223333:role/rolecall-prod-access"
	const customer = "arn:aws:iam::444455556666:role/customer"
	for _, tc := range []struct {
		name string
		part Part
		want []string
	}{
		{"AccessRoleSTS", AccessRoleSTS, []string{"AKIABASE " + accessRole, "ASIASESSION1 " + customer, "ASIASESSION1 " + customer}},
		{"CallerSTS", CallerSTS, []string{"AKIABASE " + customer, "AKIABASE " + customer}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &stsCalls{}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			cfg := aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL),
				Credentials: credentials.NewStaticCredentialsProvider("AKIABASE", "secret", "")}
			c, err := AWSComponents(cfg, Resources{AccessRoleARN: accessRole}, nil, tc.part)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				s, err := c.STS.AssumeRole(context.Background(), probe.AssumeRequest{RoleARN: customer, SessionName: "rolecall-check", DurationSeconds: 900})
				if err != nil || s.AccountID != "444455556666" {
					t.Fatalf("AssumeRole = %+v, %v; want a session in 444455556666", s, err)
				}
			}
			fake.mu.Lock()
			defer fake.mu.Unlock()
			if got := strings.Join(fake.calls, "\n"); got != strings.Join(tc.want, "\n") {
				t.Errorf("STS calls:\n%s\nwant:\n%s", got, strings.Join(tc.want, "\n"))
			}
		})
	}
}

// The defaults serve starts from are what the Lambdas read from an
// environment that sets only their resources: paced to the default STS
// budget, with the default lifecycle policy and schedule.
func TestDefaultsAreTheLambdasSettings(t *testing.T) {
	resources := map[string]string{"TABLE_NAME": "t", "VERIFY_QUEUE_URL": "q", "ACCESS_ROLE_ARN": deployed["ACCESS_ROLE_ARN"]}
	v := ReadVerify(envOf(resources))
	v.Resources = Resources{}
	got := DefaultVerify()
	if !reflect.DeepEqual(got, v) {
		t.Errorf("DefaultVerify = %+v, want the verify function's %+v", got, v)
	}
	if !reflect.DeepEqual(got.Plan, stsbudget.DefaultPlan()) || got.RoutineConcurrency != stsbudget.InFlight || got.Policy != connection.DefaultPolicy() {
		t.Errorf("DefaultVerify = %+v; want the default plan %+v, %d checks at once and the default policy", got, stsbudget.DefaultPlan(), stsbudget.InFlight)
	}
	s := ReadSweep(envOf(resources))
	s.Resources = Resources{}
	gotS := DefaultSweep()
	if !reflect.DeepEqual(gotS, s) {
		t.Errorf("DefaultSweep = %+v, want the sweep function's %+v", gotS, s)
	}
	if !reflect.DeepEqual(gotS.Plan, stsbudget.DefaultPlan()) || gotS.Every != sweep.DefaultEvery || gotS.Interval != connection.DefaultPolicy().VerifiedInterval {
		t.Errorf("DefaultSweep = %+v; want the default plan, every %v, interval %v", gotS, sweep.DefaultEvery, connection.DefaultPolicy().VerifiedInterval)
	}
}

// Rules refuse the partner's own account and another partition, for
// submissions (from the trusted principal's partition) and for `rolecall
// verify` (from its Region's) alike.
func TestRules(t *testing.T) {
	sub := rules(Partner{AccountID: "111122223333", TrustedPrincipalARN: "arn:aws-cn:iam::111122223333:role/rolecall-prod-access"})
	for _, tc := range []struct {
		name  string
		rules rolearn.Rules
		arn   string
		code  string // "" accepted
	}{
		{"submission", sub, "arn:aws-cn:iam::444455556666:role/r", ""},
		{"submission, own account", sub, "arn:aws-cn:iam::111122223333:role/r", rolearn.CodeOwnAccount},
		{"submission, other partition", sub, "arn:aws:iam::444455556666:role/r", rolearn.CodeWrongPartition},
		{"verify", Rules("aws", ""), "arn:aws:iam::444455556666:role/r", ""},
		{"verify, own account", Rules("aws", "444455556666"), "arn:aws:iam::444455556666:role/r", rolearn.CodeOwnAccount},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rolearn.Parse(tc.arn, tc.rules)
			got := ""
			if re := (*rolearn.Error)(nil); errors.As(err, &re) {
				got = re.Code
			} else if err != nil {
				got = err.Error()
			}
			if got != tc.code {
				t.Errorf("Parse(%s) = %v, want code %q", tc.arn, err, tc.code)
			}
		})
	}
}
