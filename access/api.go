package access

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
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Connection is what RoleCall hands a workload for one VERIFIED
// connection: the customer's role, the tenant's current external ID, and
// the partner access role to reach it through.
type Connection struct {
	TenantID      string    `json:"tenantId"`
	AccountID     string    `json:"accountId"`
	RoleARN       string    `json:"roleArn"`
	ExternalID    string    `json:"externalId"`
	AccessRoleARN string    `json:"accessRoleArn"`
	Partition     string    `json:"partition"`
	Status        string    `json:"status"`
	VerifiedAt    time.Time `json:"verifiedAt"`
}

// String never shows the external ID.
func (c Connection) String() string {
	return fmt.Sprintf("%s/%s %s (%s)", c.TenantID, c.AccountID, c.RoleARN, c.Status)
}

// Authorizer authenticates a request to RoleCall's operations routes.
type Authorizer interface {
	Authorize(ctx context.Context, r *http.Request, body []byte) error
}

// BearerToken authorizes with `Authorization: Bearer <token>`: the ops
// token of `rolecall serve`.
type BearerToken string

// Authorize implements Authorizer.
func (t BearerToken) Authorize(_ context.Context, r *http.Request, _ []byte) error {
	if t == "" {
		return errors.New("the RoleCall ops token is empty")
	}
	r.Header.Set("Authorization", "Bearer "+string(t))
	return nil
}

// SigV4 signs requests for API Gateway's AWS_IAM authorizer
// (service execute-api): the deployed RoleCall API.
type SigV4 struct {
	Credentials aws.CredentialsProvider
	Region      string
}

// Authorize implements Authorizer.
func (s SigV4) Authorize(ctx context.Context, r *http.Request, body []byte) error {
	if s.Credentials == nil {
		return errors.New("SigV4: no AWS credentials to sign the RoleCall API request with")
	}
	creds, err := s.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("SigV4: retrieve credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	return v4.NewSigner().SignHTTP(ctx, creds, r, hex.EncodeToString(sum[:]), "execute-api", s.Region, time.Now())
}

// API is a client of RoleCall's operations routes.
type API struct {
	// BaseURL of the RoleCall API, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com
	// or http://127.0.0.1:8080 for `rolecall serve`.
	BaseURL string
	// Auth authenticates the requests (BearerToken or SigV4).
	Auth Authorizer
	// HTTPClient defaults to a client with a 30 s timeout.
	HTTPClient *http.Client
}

var defaultHTTPClient = &http.Client{Timeout: 30 * time.Second}

// maxAnswer bounds how much of an answer is read.
const maxAnswer = 4 << 20

// Connection returns the connection's role, external ID and access role.
// A connection that is not VERIFIED is refused with a *NotVerifiedError.
func (a *API) Connection(ctx context.Context, tenantID, accountID string) (Connection, error) {
	var c Connection
	err := a.do(ctx, http.MethodGet, "/v1/tenants/"+url.PathEscape(tenantID)+"/connections/"+url.PathEscape(accountID)+"/access", &c)
	var nv *NotVerifiedError
	if errors.As(err, &nv) {
		nv.TenantID, nv.AccountID = tenantID, accountID
	}
	if err != nil {
		return Connection{}, err
	}
	if c.Status != "VERIFIED" {
		return Connection{}, &NotVerifiedError{TenantID: tenantID, AccountID: accountID, Status: c.Status}
	}
	return c, nil
}

// Page is one page of a tenant's VERIFIED connections.
type Page struct {
	Connections []Connection `json:"connections"`
	// Cursor continues the listing; "" on the last page.
	Cursor string `json:"cursor,omitempty"`
}

// Connections lists one page of a tenant's VERIFIED connections.
func (a *API) Connections(ctx context.Context, tenantID, cursor string, limit int) (Page, error) {
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	p := "/v1/tenants/" + url.PathEscape(tenantID) + "/access"
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	var page Page
	if err := a.do(ctx, http.MethodGet, p, &page); err != nil {
		return Page{}, err
	}
	return page, nil
}

// AllConnections lists every VERIFIED connection of a tenant.
func (a *API) AllConnections(ctx context.Context, tenantID string) ([]Connection, error) {
	var out []Connection
	cursor := ""
	for {
		p, err := a.Connections(ctx, tenantID, cursor, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Connections...)
		if p.Cursor == "" || p.Cursor == cursor {
			return out, nil
		}
		cursor = p.Cursor
	}
}

// Ref names one connection.
type Ref struct {
	TenantID  string `json:"tenantId"`
	AccountID string `json:"accountId"`
}

// Verified lists every VERIFIED connection of every tenant (GET
// /v1/connections?status=VERIFIED), for commands that cover all tenants.
func (a *API) Verified(ctx context.Context) ([]Ref, error) {
	var out []Ref
	cursor := ""
	for {
		q := url.Values{"status": {"VERIFIED"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Connections []Ref  `json:"connections"`
			Cursor      string `json:"cursor"`
		}
		if err := a.do(ctx, http.MethodGet, "/v1/connections?"+q.Encode(), &page); err != nil {
			return nil, err
		}
		out = append(out, page.Connections...)
		if page.Cursor == "" || page.Cursor == cursor {
			return out, nil
		}
		cursor = page.Cursor
	}
}

// RequestCheck asks RoleCall to re-check a connection now.
func (a *API) RequestCheck(ctx context.Context, tenantID, accountID string) error {
	return a.do(ctx, http.MethodPost, "/v1/tenants/"+url.PathEscape(tenantID)+"/connections/"+url.PathEscape(accountID)+"/check", nil)
}

// errorAnswer is RoleCall's error body; a NOT_VERIFIED refusal also
// carries the connection's status and reason.
type errorAnswer struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Connection *struct {
		Status string `json:"status"`
		Reason Reason `json:"reason"`
	} `json:"connection"`
}

func (a *API) do(ctx context.Context, method, path string, out any) error {
	base := strings.TrimRight(a.BaseURL, "/")
	if base == "" {
		return errors.New("no RoleCall API URL")
	}
	var body []byte
	if method == http.MethodPost {
		body = []byte("{}")
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("rolecall API request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if a.Auth != nil {
		if err := a.Auth.Authorize(ctx, req, body); err != nil {
			return err
		}
	}
	hc := a.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("rolecall API %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("rolecall API %s %s: read the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var ea errorAnswer
		_ = json.Unmarshal(b, &ea)
		if ea.Error.Code == CodeNotVerified {
			nv := &NotVerifiedError{}
			if ea.Connection != nil {
				nv.Status, nv.Reason = ea.Connection.Status, ea.Connection.Reason
			}
			return nv
		}
		if ea.Error.Code == "" {
			ea.Error.Code, ea.Error.Message = http.StatusText(resp.StatusCode), "the answer carries no RoleCall error"
		}
		return &APIError{StatusCode: resp.StatusCode, Code: ea.Error.Code, Message: ea.Error.Message}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("rolecall API %s %s: malformed answer: %w", method, path, err)
	}
	return nil
}

// CodeNotVerified is the API's error code for a connection that is not
// VERIFIED (HTTP 409).
const CodeNotVerified = "NOT_VERIFIED"
