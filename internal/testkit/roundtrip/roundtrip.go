// Package roundtrip sends one HTTP request from a test and hands back the
// response with its whole body read, failing the test when the request
// cannot be sent or read, so tests of HTTP servers need not each repeat
// the send, read and close steps. Tests only: production code never
// imports it.
package roundtrip

import (
	"io"
	"net/http"
	"testing"
)

// Do sends req with http.DefaultClient and returns the response (its body
// already read and closed) and the body. It stops the test (t.Fatal) when
// the request fails or the body cannot be read.
func Do(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	return resp, b
}
