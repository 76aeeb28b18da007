package lambdaruntime_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/testkit/lambdaruntime"
	"github.com/rolecall/rolecall/internal/testkit/roundtrip"
)

// client plays a runtime against the server with plain HTTP.
type client struct {
	t    *testing.T
	base string
}

func (c client) next() (id string, h http.Header, body string) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.base+"/2018-06-01/runtime/invocation/next", nil)
	resp, b := roundtrip.Do(c.t, req)
	if resp.StatusCode != 200 {
		c.t.Fatalf("next: %d %s", resp.StatusCode, b)
	}
	return resp.Header.Get("Lambda-Runtime-Aws-Request-Id"), resp.Header, string(b)
}

func (c client) post(path, body string, hdr map[string]string) (int, string) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.base+"/2018-06-01/runtime/"+path, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, b := roundtrip.Do(c.t, req)
	return resp.StatusCode, string(b)
}

func newServer(t *testing.T) (*lambdaruntime.Server, client) {
	s, err := lambdaruntime.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, client{t: t, base: "http://" + s.Addr()}
}

func TestInvokeResponse(t *testing.T) {
	s, c := newServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	before := time.Now()
	done := make(chan lambdaruntime.Result, 1)
	go func() {
		r, err := s.Invoke(ctx, []byte(`{"n":1}`), 30*time.Second)
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	id, h, body := c.next()
	first, err := s.FirstNext(ctx)
	if err != nil || first.Before(before) {
		t.Errorf("FirstNext = %s, %v", first, err)
	}
	if body != `{"n":1}` || id == "" || h.Get("Lambda-Runtime-Invoked-Function-Arn") == "" || h.Get("Lambda-Runtime-Trace-Id") == "" {
		t.Errorf("next: id %q body %q headers %v", id, body, h)
	}
	deadline := h.Get("Lambda-Runtime-Deadline-Ms")
	if len(deadline) != 13 {
		t.Errorf("deadline header %q is not epoch milliseconds", deadline)
	}
	if code, b := c.post("invocation/"+id+"/response", `{"ok":true}`, nil); code != 202 {
		t.Fatalf("response: %d %s", code, b)
	}
	r := <-done
	if r.RequestID != id || string(r.Payload) != `{"ok":true}` || r.Error {
		t.Errorf("result = %+v", r)
	}
	if code, _ := c.post("invocation/"+id+"/response", `{}`, nil); code != 400 {
		t.Errorf("answering a finished invocation: %d, want 400", code)
	}
}

func TestInvokeError(t *testing.T) {
	s, c := newServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan lambdaruntime.Result, 1)
	go func() { r, _ := s.Invoke(ctx, []byte(`{}`), time.Second); done <- r }()
	id, _, _ := c.next()
	code, _ := c.post("invocation/"+id+"/error", `{"errorMessage":"boom","errorType":"errorString"}`,
		map[string]string{"Lambda-Runtime-Function-Error-Type": "errorString"})
	if code != 202 {
		t.Fatalf("error: %d", code)
	}
	r := <-done
	if !r.Error || r.ErrorType != "errorString" || !strings.Contains(string(r.Payload), "boom") {
		t.Errorf("result = %+v", r)
	}
}

func TestProtocolErrors(t *testing.T) {
	s, c := newServer(t)
	if code, _ := c.post("invocation/nope/response", `{}`, nil); code != 400 {
		t.Errorf("unknown request id: %d, want 400", code)
	}
	if code, _ := c.post("invocation/x/other", `{}`, nil); code != 404 {
		t.Errorf("unknown path: %d, want 404", code)
	}
	if code, _ := c.post("init/error", `{"errorMessage":"bad config"}`, map[string]string{"Lambda-Runtime-Function-Error-Type": "Runtime.ExitError"}); code != 202 {
		t.Errorf("init error: %d", code)
	}
	if r, ok := s.InitError(); !ok || r.ErrorType != "Runtime.ExitError" {
		t.Errorf("InitError = %+v, %v", r, ok)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.Invoke(ctx, []byte(`{}`), time.Second); err == nil {
		t.Error("Invoke without a runtime returned")
	}
	if _, err := s.FirstNext(ctx); err == nil {
		t.Error("FirstNext without a next request returned")
	}
}

func TestCloseReleasesWaiters(t *testing.T) {
	s, c := newServer(t)
	got := make(chan int, 1)
	go func() {
		resp, err := http.Get(c.base + "/2018-06-01/runtime/invocation/next")
		if err != nil {
			got <- -1
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.FirstNext(ctx); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	select {
	case code := <-got:
		if code == 200 {
			t.Errorf("a pending next got an invocation after Close")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a pending next was not released by Close")
	}
}
