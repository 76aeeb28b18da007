package roundtrip_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/testkit/roundtrip"
)

// Do returns the status, the header and the whole body, and sends the
// request as built (method, header, body).
func TestDo(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen", r.Method+" "+r.Header.Get("X-Test"))
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte("got " + string(b)))
	}))
	defer s.Close()
	req, err := http.NewRequest(http.MethodPut, s.URL+"/x", strings.NewReader("ping"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Test", "yes")
	resp, body := roundtrip.Do(t, req)
	if resp.StatusCode != http.StatusTeapot || resp.Header.Get("X-Seen") != "PUT yes" || string(body) != "got ping" {
		t.Fatalf("Do = %d %v %q", resp.StatusCode, resp.Header, body)
	}
}
