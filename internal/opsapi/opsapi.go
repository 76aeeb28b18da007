// Package opsapi is a client of RoleCall's operations API, for the
// `rolecall` ops commands: the same routes served by `rolecall serve`
// (authorized by a bearer token) and by a deployed stack's API Gateway
// (authorized by AWS_IAM, so requests are signed with SigV4 for the
// execute-api service).
//
// The client returns the API's response bodies as they are (callers print
// them for --json) and decodes them where it needs fields. A refusal is an
// *Error carrying the API's status, code, message and field.
package opsapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Authorizer adds credentials to a request whose body hashes (SHA-256,
// hex) to payloadHash.
type Authorizer interface {
	Authorize(ctx context.Context, r *http.Request, payloadHash string) error
}

// Bearer authorizes with `Authorization: Bearer <token>` (rolecall serve).
type Bearer string

// Authorize implements Authorizer.
func (b Bearer) Authorize(_ context.Context, r *http.Request, _ string) error {
	if b == "" {
		return errors.New("opsapi: the ops token is empty")
	}
	r.Header.Set("Authorization", "Bearer "+string(b))
	return nil
}

// SigV4 signs requests for API Gateway's AWS_IAM authorizer (service
// execute-api) with the SDK's signer.
type SigV4 struct {
	Credentials aws.CredentialsProvider
	Region      string
	// Now is the signing time (default time.Now).
	Now func() time.Time
}

// Service is the SigV4 service name of API Gateway's invoke endpoint.
const Service = "execute-api"

// Authorize implements Authorizer.
func (s SigV4) Authorize(ctx context.Context, r *http.Request, payloadHash string) error {
	if s.Credentials == nil {
		return errors.New("opsapi: no AWS credentials to sign with")
	}
	if s.Region == "" {
		return errors.New("opsapi: no region to sign for; give --region")
	}
	creds, err := s.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("opsapi: AWS credentials: %w", err)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	if err := v4.NewSigner().SignHTTP(ctx, creds, r, payloadHash, Service, s.Region, now()); err != nil {
		return fmt.Errorf("opsapi: sign request: %w", err)
	}
	return nil
}

// Error is a refusal by the API: its HTTP status and its error body.
type Error struct {
	Status  int
	Code    string
	Message string
	Field   string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s: %s", e.Code, e.Message)
	if e.Field != "" {
		s += " (field " + e.Field + ")"
	}
	return s
}

// Client calls one API.
type Client struct {
	base *url.URL
	auth Authorizer
	http *http.Client
}

// New returns a client of the API at baseURL ("http://127.0.0.1:8080",
// "https://abc.execute-api.us-east-1.amazonaws.com/"). hc nil means a
// client with a 30 s timeout.
func New(baseURL string, auth Authorizer, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("opsapi: the API URL %q is not an http(s) URL", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("opsapi: the API URL %q may not carry a query, fragment or user", baseURL)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: u, auth: auth, http: hc}, nil
}

// Do sends method path?query with in as the JSON body (nil: none) and
// returns the response body of a 2xx answer, or an *Error.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, in any) (json.RawMessage, error) {
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("opsapi: encode request: %w", err)
		}
		body = b
	}
	target := c.base.String() + path
	if q := query.Encode(); q != "" {
		target += "?" + q
	}
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("opsapi: %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	sum := sha256.Sum256(body)
	if c.auth != nil {
		if err := c.auth.Authorize(ctx, req, hex.EncodeToString(sum[:])); err != nil {
			return nil, err
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("opsapi: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("opsapi: %s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if len(bytes.TrimSpace(b)) == 0 {
			return json.RawMessage("{}"), nil
		}
		if !json.Valid(b) {
			return nil, fmt.Errorf("opsapi: %s %s: the answer (%d) is not JSON", method, path, resp.StatusCode)
		}
		return json.RawMessage(b), nil
	}
	return nil, refusal(resp, b)
}

// refusal turns an error response into an *Error. Answers that are not
// RoleCall's JSON errors (a gateway's {"message":"Forbidden"}, an HTML
// page) keep their status and a short excerpt.
func refusal(resp *http.Response, b []byte) *Error {
	var eb struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
		Message string `json:"message"` // API Gateway's own errors
	}
	e := &Error{Status: resp.StatusCode}
	if json.Unmarshal(b, &eb) == nil && eb.Error.Code != "" {
		e.Code, e.Message, e.Field = eb.Error.Code, eb.Error.Message, eb.Error.Field
		return e
	}
	e.Code = "HTTP_" + fmt.Sprint(resp.StatusCode)
	e.Message = http.StatusText(resp.StatusCode)
	if eb.Message != "" {
		e.Message = eb.Message
	} else if s := strings.TrimSpace(string(b)); s != "" {
		e.Message += ": " + excerpt(s, 200)
	}
	return e
}

func excerpt(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Seg escapes one path segment for Do's path (a tenant ID, an account ID, an invite ID).
func Seg(s string) string { return url.PathEscape(s) }
