package awsfake

import (
	"net/http"
	"net/http/httptest"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Cleaner is the part of testing.TB that Serve needs.
type Cleaner interface{ Cleanup(func()) }

// Serve serves fake on a loopback port until the test ends and returns the
// ClientConfig of SDK clients that talk to it.
func Serve(t Cleaner, fake http.Handler, maxAttempts int) aws.Config {
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return ClientConfig(srv.URL, maxAttempts)
}
