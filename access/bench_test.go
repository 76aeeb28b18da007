package access

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
)

// BenchmarkSigV4Authorize signs one ops API request: the cost every
// request of a client of the deployed API pays.
// With the Region given, and left to the execute-api host to name.
func BenchmarkSigV4Authorize(b *testing.B) {
	for _, region := range []string{"eu-west-1", ""} {
		b.Run("region="+region, func(b *testing.B) {
			s := SigV4{Credentials: credentials.NewStaticCredentialsProvider("AKIAWORKLOAD00000001", "workload-secret", ""), Region: region}
			body := []byte(`{"reason":"bench"}`)
			r, err := http.NewRequest(http.MethodPost, "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/tenants/acme/connections/444455556666/check", strings.NewReader(string(body)))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Authorize(ctx, r, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCustomerSessionRefresh refreshes one connection's customer
// session (what the credentials cache does once an hour per connection):
// RoleCall's answer for the connection, then sts:AssumeRole with the
// access role's cached session, both over HTTP to local fakes.
func BenchmarkCustomerSessionRefresh(b *testing.B) {
	w := newWorld(b, "444455556666")
	p := &connProvider{c: w.client, ref: Ref{TenantID: "acme", AccountID: "444455556666"}}
	ctx := context.Background()
	if _, err := p.Retrieve(ctx); err != nil { // the access role's session, cached from here on
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Retrieve(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
