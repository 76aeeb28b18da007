package access

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rolecall/rolecall/internal/truncate"
)

// API is a client of RoleCall's operations routes.
type API struct {
	// BaseURL of the RoleCall API, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com
	// or http://127.0.0.1:8080 for `rolecall serve`.
	BaseURL string
	// Auth authenticates the requests (BearerToken or SigV4).
	Auth Authorizer
	// HTTPClient defaults to a client with a 30 s timeout. A redirect is
	// never followed, whatever the client's CheckRedirect: the answer is
	// the 3xx, refused (see Do).
	HTTPClient *http.Client
}

var defaultHTTPClient = &http.Client{Timeout: 30 * time.Second}

// noRedirects answers a redirect with the 3xx itself. RoleCall's API never
// redirects, and following one would turn a POST or DELETE into a GET that
// looks like success, and send a SigV4 session token to another host (Go
// drops Authorization on a redirect to another host, not
// X-Amz-Security-Token).
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// maxAnswer bounds how much of an answer is read; a longer answer is
// refused rather than cut into JSON that does not parse.
const maxAnswer = 16 << 20

// Do sends one request to a RoleCall route: method path?query, with in
// encoded as the JSON body (nil: no body), authorized by Auth. A 2xx
// answer's JSON body is returned as it is ("{}" for an empty one). A
// refusal is a *NotVerifiedError (code NOT_VERIFIED) or an *APIError
// carrying the HTTP status and RoleCall's code, message and field; an
// answer that is not RoleCall's JSON error (a gateway's
// {"message":"Forbidden"}, an HTML page) keeps its status, with the code
// HTTP_<status> and a short excerpt as the message.
//
// The methods of API cover the routes a workload needs; Do serves clients
// of the other operations routes.
func (a *API) Do(ctx context.Context, method, path string, query url.Values, in any) (json.RawMessage, error) {
	base := strings.TrimRight(a.BaseURL, "/")
	if base == "" {
		return nil, errors.New("no RoleCall API URL")
	}
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("rolecall API %s %s: encode the request: %w", method, path, err)
		}
		body = b
	}
	target := base + path
	if q := query.Encode(); q != "" {
		target += "?" + q
	}
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("rolecall API request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if a.Auth != nil {
		if err := a.Auth.Authorize(ctx, req, body); err != nil {
			return nil, err
		}
	}
	hc := *defaultHTTPClient
	if a.HTTPClient != nil {
		hc = *a.HTTPClient
	}
	hc.CheckRedirect = noRedirects
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("rolecall API %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("rolecall API %s %s: read the answer: %w", method, path, err)
	}
	if len(b) > maxAnswer {
		return nil, fmt.Errorf("rolecall API %s %s: the answer exceeds %d bytes", method, path, maxAnswer)
	}
	if resp.StatusCode/100 != 2 {
		return nil, refusal(resp.StatusCode, b)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return json.RawMessage("{}"), nil
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("rolecall API %s %s: the answer (%d) is not JSON", method, path, resp.StatusCode)
	}
	return json.RawMessage(b), nil
}

// maxPages bounds a Walk, so that a server that keeps answering with a
// cursor cannot keep a client busy for ever.
const maxPages = 10000

// Walk follows a listing's cursors from its first page: it GETs path with
// query (plus cursor= from the second page on), hands each page's JSON
// to page, which returns the page's cursor, and stops after a page with
// no cursor. A cursor answered twice, or more than 10000 pages, is an
// error rather than a loop.
func (a *API) Walk(ctx context.Context, path string, query url.Values, page func(json.RawMessage) (cursor string, err error)) error {
	seen := map[string]bool{}
	cursor := ""
	for range maxPages {
		q := url.Values{}
		for k, v := range query {
			q[k] = v
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		raw, err := a.Do(ctx, http.MethodGet, path, q, nil)
		if err != nil {
			return err
		}
		next, err := page(raw)
		if err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		if seen[next] {
			return fmt.Errorf("rolecall API GET %s returned a cursor twice: %q", path, next)
		}
		seen[next], cursor = true, next
	}
	return fmt.Errorf("rolecall API GET %s has more than %d pages", path, maxPages)
}

// do is Do decoding a 2xx answer into out (nil: ignore it).
func (a *API) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	raw, err := a.Do(ctx, method, path, query, in)
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("rolecall API %s %s: malformed answer: %w", method, path, err)
	}
	return nil
}

// errorAnswer is RoleCall's error body; a NOT_VERIFIED refusal also
// carries the connection's status and reason. Message is API Gateway's
// own error body ({"message":"Forbidden"}).
type errorAnswer struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
		Hint    string `json:"hint"`
	} `json:"error"`
	Connection *struct {
		Status string `json:"status"`
		Reason Reason `json:"reason"`
	} `json:"connection"`
	Message string `json:"message"`
}

// refusal turns an error answer into a *NotVerifiedError or an *APIError.
func refusal(status int, b []byte) error {
	var ea errorAnswer
	if json.Unmarshal(b, &ea) == nil && ea.Error.Code != "" {
		if ea.Error.Code == CodeNotVerified {
			nv := &NotVerifiedError{}
			if ea.Connection != nil {
				r := ea.Connection.Reason
				nv.Status = excerpt(ea.Connection.Status, 64)
				nv.Reason = Reason{Code: excerpt(r.Code, 64), Message: truncate.Printable(r.Message, 1000), Hint: truncate.Printable(r.Hint, 1000)}
			}
			return nv
		}
		// The texts go to terminals and logs: no control characters (a
		// hostile or broken API's escape sequences), and bounded.
		return &APIError{StatusCode: status, Code: excerpt(ea.Error.Code, 64), Message: truncate.Printable(ea.Error.Message, 1000),
			Field: excerpt(ea.Error.Field, 128), Hint: truncate.Printable(ea.Error.Hint, 1000)}
	}
	e := &APIError{StatusCode: status, Code: fmt.Sprintf("HTTP_%d", status), Message: http.StatusText(status)}
	if ea.Message != "" {
		// API Gateway's message can go on, after its first line, with what
		// it computed from the request: a signature mismatch's canonical
		// request holds the x-amz-security-token header's value, which no
		// error may carry into a log.
		first, _, _ := strings.Cut(ea.Message, "\n")
		e.Message = excerpt(first, 200)
	} else if s := strings.TrimSpace(string(b)); s != "" {
		e.Message += ": " + excerpt(s, 200)
	}
	return e
}

// excerpt is s on one line: its whitespace collapsed and its other
// control characters dropped, cut to at most n bytes on a character
// boundary.
func excerpt(s string, n int) string {
	return truncate.String(strings.Join(strings.Fields(truncate.Printable(s, len(s))), " "), n)
}

// CodeNotVerified is the API's error code for a connection that is not
// VERIFIED (HTTP 409).
const CodeNotVerified = "NOT_VERIFIED"
