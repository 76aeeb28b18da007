// Package lambdaruntime is a minimal local implementation of the AWS Lambda
// Runtime API (version 2018-06-01): enough for a provided.al2023 bootstrap
// to start, fetch invocations (GET .../runtime/invocation/next) and answer
// them (POST .../invocation/{id}/response or .../error), or report an
// initialisation error (POST .../runtime/init/error).
//
// Tests start the shipped function binaries with AWS_LAMBDA_RUNTIME_API set
// to Server.Addr and drive them with Invoke, exactly as Lambda would.
//
// It is written here because nothing the Go module proxy serves is an
// embeddable Runtime API server: aws-lambda-go is the client side (what
// the functions link), and the Runtime Interface Emulator is a program
// (aws-lambda-rie) that starts the bootstrap itself and serves its own
// invoke endpoint; its Runtime API code is the emulator's implementation,
// not a documented library, and the proxy serves it as pseudo-versions
// only. A test needs the server in process, one per test, on a loopback
// port, answering the binary the test started and reporting init errors.
package lambdaruntime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

const prefix = "/2018-06-01/runtime/"

// Result is what the runtime answered to one invocation (or reported at
// initialisation).
type Result struct {
	RequestID string
	Payload   []byte // the response, or the error document
	Error     bool   // posted to .../error (or init/error)
	ErrorType string // the Lambda-Runtime-Function-Error-Type header of an error
}

type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	done     chan Result
}

// Server is a local Runtime API. Create it with New; it serves on
// 127.0.0.1 until Close.
type Server struct {
	// FunctionARN is sent as the invoked function's ARN.
	FunctionARN string

	ln   net.Listener
	srv  *http.Server
	next chan *invocation

	mu        sync.Mutex
	inflight  map[string]*invocation
	firstNext time.Time
	nextSeen  chan struct{} // closed at the first next request
	initErr   chan Result
	closed    chan struct{}
	closeOnce sync.Once
}

// New starts a Runtime API on a free loopback port.
func New() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s := &Server{
		FunctionARN: "arn:aws:lambda:us-east-1:111122223333:function:smoke",
		ln:          ln,
		next:        make(chan *invocation),
		inflight:    map[string]*invocation{},
		nextSeen:    make(chan struct{}),
		initErr:     make(chan Result, 1),
		closed:      make(chan struct{}),
	}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Addr is the host:port to put in AWS_LAMBDA_RUNTIME_API.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server; pending next requests are answered with 500.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// FirstNext returns when the runtime first asked for an invocation; it
// blocks until then or until ctx is done.
func (s *Server) FirstNext(ctx context.Context) (time.Time, error) {
	select {
	case <-s.nextSeen:
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.firstNext, nil
	case <-ctx.Done():
		return time.Time{}, fmt.Errorf("wait for the first next request: %w", ctx.Err())
	}
}

// InitError returns the init error the runtime reported, if it did.
func (s *Server) InitError() (Result, bool) {
	select {
	case r := <-s.initErr:
		return r, true
	default:
		return Result{}, false
	}
}

// ErrClosed: the server was closed before the invocation completed.
var ErrClosed = errors.New("runtime API closed")

// Invoke hands payload to the runtime's next request, with the given
// function timeout, and waits for its answer or until ctx is done.
func (s *Server) Invoke(ctx context.Context, payload []byte, timeout time.Duration) (Result, error) {
	inv := &invocation{id: newRequestID(), payload: payload, deadline: time.Now().Add(timeout), done: make(chan Result, 1)}
	s.mu.Lock()
	s.inflight[inv.id] = inv
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.inflight, inv.id)
		s.mu.Unlock()
	}()
	select {
	case s.next <- inv:
	case <-ctx.Done():
		return Result{}, fmt.Errorf("invoke: no runtime asked for the invocation: %w", ctx.Err())
	case <-s.closed:
		return Result{}, ErrClosed
	}
	select {
	case r := <-inv.done:
		return r, nil
	case <-ctx.Done():
		return Result{}, fmt.Errorf("invoke %s: no answer: %w", inv.id, ctx.Err())
	case <-s.closed:
		return Result{}, ErrClosed
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, prefix)
	switch {
	case !ok:
		apiError(w, http.StatusNotFound, "UnknownPath", r.URL.Path)
	case path == "invocation/next" && r.Method == http.MethodGet:
		s.handleNext(w, r)
	case path == "init/error" && r.Method == http.MethodPost:
		body, _ := io.ReadAll(r.Body)
		select {
		case s.initErr <- Result{Payload: body, Error: true, ErrorType: r.Header.Get("Lambda-Runtime-Function-Error-Type")}:
		default:
		}
		accepted(w)
	case strings.HasPrefix(path, "invocation/") && r.Method == http.MethodPost:
		rest := strings.TrimPrefix(path, "invocation/")
		id, kind, _ := strings.Cut(rest, "/")
		if kind != "response" && kind != "error" {
			apiError(w, http.StatusNotFound, "UnknownPath", r.URL.Path)
			return
		}
		s.mu.Lock()
		inv := s.inflight[id]
		s.mu.Unlock()
		if inv == nil {
			apiError(w, http.StatusBadRequest, "InvalidRequestID", "unknown request id "+id)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			apiError(w, http.StatusBadRequest, "InvalidBody", err.Error())
			return
		}
		res := Result{RequestID: id, Payload: body, Error: kind == "error"}
		if res.Error {
			res.ErrorType = r.Header.Get("Lambda-Runtime-Function-Error-Type")
		}
		select {
		case inv.done <- res:
			accepted(w)
		default:
			apiError(w, http.StatusBadRequest, "InvalidStateTransition", "invocation "+id+" already answered")
		}
	default:
		apiError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", r.Method+" "+r.URL.Path)
	}
}

func (s *Server) handleNext(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.firstNext.IsZero() {
		s.firstNext = time.Now()
		close(s.nextSeen)
	}
	s.mu.Unlock()
	select {
	case inv := <-s.next:
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", s.FunctionARN)
		h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(inv.payload)
	case <-r.Context().Done():
	case <-s.closed:
		apiError(w, http.StatusInternalServerError, "ServiceUnavailable", "runtime API closed")
	}
}

func accepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
}

func apiError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `{"errorType":%q,"errorMessage":%q}`, typ, msg)
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
