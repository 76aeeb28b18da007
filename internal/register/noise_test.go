package register

import (
	"context"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/registration"
)

// countingAnswers counts the writes of recorded answers.
type countingAnswers struct {
	Answers
	puts int
}

func (c *countingAnswers) PutRegistrationAnswer(ctx context.Context, key string, a registration.Answer) (registration.Answer, error) {
	c.puts++
	return c.Answers.PutRegistrationAnswer(ctx, key, a)
}

// TestNoiseDeleteWritesNothing: anyone can publish to the topic, and a
// Delete is always answered SUCCESS; one whose token authenticates no
// tenant undoes nothing and is not recorded, so made-up RequestIds cost
// the partner no table writes. An authenticated one is recorded.
func TestNoiseDeleteWritesNothing(t *testing.T) {
	forged := "rcr_" + strings.Repeat("A", 43)
	tests := []struct {
		name  string
		msg   func(e *env) []byte
		puts  int
		phyID string
	}{
		{"no physical ID, no properties", func(*env) []byte { return msg("Delete", "n1", "", nil) }, 0, ""},
		{"a connection's physical ID, a forged token", func(*env) []byte {
			return msg("Delete", "n2", "acme/"+custAcct, props(custRole, forged))
		}, 0, "acme/" + custAcct},
		{"another tenant's token", func(e *env) []byte {
			e.tenant("other")
			other, _ := e.token("other")
			return msg("Delete", "n3", "acme/"+custAcct, props(custRole, other))
		}, 0, "acme/" + custAcct},
		{"the tenant's token", func(e *env) []byte {
			return msg("Delete", "d1", "acme/"+custAcct, props(custRole, e.acmeToken()))
		}, 1, "acme/" + custAcct},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ca := &countingAnswers{Answers: e.st}
			e.h.Answers = ca
			if err := e.h.HandleMessage(context.Background(), tt.msg(e)); err != nil {
				t.Fatal(err)
			}
			got := e.rec.last(t)
			if got["Status"] != "SUCCESS" || (tt.phyID != "" && got["PhysicalResourceId"] != tt.phyID) {
				t.Fatalf("answer %v", got)
			}
			if ca.puts != tt.puts {
				t.Fatalf("%d answers recorded, want %d", ca.puts, tt.puts)
			}
		})
	}
}
