// Package opsapi is a client of RoleCall's operations API, for the
// `rolecall` ops commands: the same routes served by `rolecall serve`
// (authorized by a bearer token, access.BearerToken) and by a deployed
// stack's API Gateway (authorized by AWS_IAM, so requests are signed with
// SigV4 for the execute-api service, access.SigV4).
//
// It is built on the public access package's client, which signs the
// requests and decodes refusals into *access.APIError (status, code,
// message, field); this package adds only the ops routes the CLI needs.
// The client returns the API's response bodies as they are (callers print
// them for --json) and decodes them where it needs fields.
package opsapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/rolecall/rolecall/access"
)

// Client calls one API.
type Client struct {
	api *access.API
}

// New returns a client of the API at baseURL ("http://127.0.0.1:8080",
// "https://abc.execute-api.us-east-1.amazonaws.com/"), authorized by auth
// (nil: unauthenticated). hc nil means a client with a 30 s timeout.
func New(baseURL string, auth access.Authorizer, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("opsapi: the API URL %q is not an http(s) URL", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("opsapi: the API URL %q may not carry a query, fragment or user", u.Redacted())
	}
	return &Client{api: &access.API{BaseURL: u.String(), Auth: auth, HTTPClient: hc}}, nil
}

// Do sends method path?query with in as the JSON body (nil: none) and
// returns the response body of a 2xx answer, or the refusal (an
// *access.APIError); see access.API.Do.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, in any) (json.RawMessage, error) {
	return c.api.Do(ctx, method, path, query, in)
}

// seg escapes one path segment for Do's path (a tenant ID, an account ID, an invite ID).
func seg(s string) string { return url.PathEscape(s) }
