package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/rolecall/rolecall/internal/redact"
	"github.com/rolecall/rolecall/internal/rolearn"
)

// Defaults.
const (
	// ExpiryWindow: a cached session is replaced at most this long before
	// it expires, so no request is signed with credentials about to expire.
	ExpiryWindow = 5 * time.Minute
	// ExpiryWindowJitterFrac: a cached session is replaced at a random
	// point of the last part of ExpiryWindow this long (2.5 to 5 minutes
	// before it expires), so sessions warmed together are not all renewed
	// in the same second.
	ExpiryWindowJitterFrac = 0.5
	// AccessRoleDuration of the access role's session: STS's limit for a
	// session assumed with a role session's credentials (role chaining),
	// and the access role's MaxSessionDuration.
	AccessRoleDuration = time.Hour
	// DefaultDuration of a customer session; under role chaining STS
	// allows one hour at most.
	DefaultDuration = time.Hour
	// MinDuration of a customer session: STS refuses a DurationSeconds
	// under 900.
	MinDuration = 15 * time.Minute
	// DefaultRecheckEvery bounds how often an AccessDenied of one
	// connection asks RoleCall for a re-check.
	DefaultRecheckEvery = 5 * time.Minute
	// DefaultWorkload names the sessions when Options.Workload is empty.
	DefaultWorkload = "workload"
	// DefaultRetrieveTimeout bounds a refresh when
	// Options.RetrieveTimeout is not set.
	DefaultRetrieveTimeout = 30 * time.Second
)

// ThroughAccessRole returns a copy of cfg whose credentials are sessions
// of the access role (AccessRole): clients made from it, such as
// sts.NewFromConfig, act as the access role. A call refused because the
// cached session is no longer valid (the access role was deleted and
// created again, as a stack replacement does) drops the session, once, so
// the next call signs with a new one instead of failing until it expires.
// A Region other than the one the sessions are issued in that refuses a
// new session as well as the one before it (an opt-in Region the partner
// account has not enabled, such as one of StsRegions) is not the
// session's fault: calls there fail with a *RegionRefusedError, without
// being sent and without assuming the access role again, while that
// session lasts, and the next session is tried there once. cfg must not
// itself come from ThroughAccessRole: roles chain through one access role
// only.
func ThroughAccessRole(cfg aws.Config, roleARN, sessionName string) aws.Config {
	out := cfg.Copy()
	cache := AccessRole(cfg, roleARN, sessionName)
	out.Credentials = cache
	home, _ := stsRegion(cfg.Region, roleARN, "") // an error: every Retrieve refuses, no call is made
	g := &regionGuard{cache: cache, roleARN: roleARN, home: home, refusedIn: map[string]string{}, blocked: map[string]blockedSession{}}
	out.APIOptions = append(slices.Clone(cfg.APIOptions), g.add)
	return out
}

// sessionRefused reports whether err is STS refusing the credentials a
// call was signed with (an unknown or expired session token), not the
// call itself.
func sessionRefused(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException":
		return true
	}
	return false
}

// cacheOptions are the options of every session cache.
func cacheOptions(o *aws.CredentialsCacheOptions) {
	o.ExpiryWindow = ExpiryWindow
	o.ExpiryWindowJitterFrac = ExpiryWindowJitterFrac
}

// stsClient is an STS client of cfg calling region.
func stsClient(cfg aws.Config, region string) *sts.Client {
	return sts.NewFromConfig(cfg, func(o *sts.Options) { o.Region = region })
}

// Options configure a Client.
type Options struct {
	// Workload names this service in session names (visible in the
	// customer's CloudTrail): "<workload>-<tenant>". Default "workload".
	Workload string
	// Duration of customer sessions: default and at most one hour (STS's
	// limit under role chaining), at least 15 minutes (STS's minimum).
	// A duration out of that range is taken as the nearest bound, so
	// that every refresh is one STS accepts.
	Duration time.Duration
	// RecheckEvery: at most one re-check request per connection this
	// often (default 5 minutes).
	RecheckEvery time.Duration
	// Now is the clock of the re-check limit and of the backoff after a
	// failed refresh (default time.Now).
	Now func() time.Time
	// RetrieveTimeout bounds one refresh of a customer session: the
	// connection from RoleCall, the access role's session and the
	// customer role's (default DefaultRetrieveTimeout). It bounds each
	// sts:AssumeRole of the access role on its own too, since every
	// connection's refresh waits on that one call.
	RetrieveTimeout time.Duration
}

// Client hands out credentials for the VERIFIED connections of RoleCall.
// It is safe for concurrent use; create one per process and reuse it, so
// sessions are shared.
type Client struct {
	cfg aws.Config
	// sts assumes the customer roles: built once (an *sts.Client is safe
	// for concurrent use), each call signed with the access role's session
	// and sent to its Region (sessionSTS).
	sts  *sts.Client
	api  *API
	opts Options

	mu          sync.Mutex
	accessRoles map[string]*aws.CredentialsCache // by access role ARN
	// dropped is, by access role ARN, the access key ID of the last
	// session a refusal dropped (dropSession).
	dropped   map[string]string
	conns     map[Ref]*aws.CredentialsCache
	rechecked map[Ref]time.Time
}

// New returns a Client that assumes the access role with cfg's
// credentials (cfg is usually config.LoadDefaultConfig's) and asks api
// for the connections.
func New(cfg aws.Config, api *API, opts Options) *Client {
	if opts.Workload == "" {
		opts.Workload = DefaultWorkload
	}
	switch {
	case opts.Duration <= 0 || opts.Duration > DefaultDuration:
		opts.Duration = DefaultDuration
	case opts.Duration < MinDuration:
		opts.Duration = MinDuration
	}
	if opts.RecheckEvery <= 0 {
		opts.RecheckEvery = DefaultRecheckEvery
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RetrieveTimeout <= 0 {
		opts.RetrieveTimeout = DefaultRetrieveTimeout
	}
	return &Client{cfg: cfg, sts: stsClient(cfg, cfg.Region), api: api, opts: opts,
		accessRoles: map[string]*aws.CredentialsCache{}, dropped: map[string]string{}, conns: map[Ref]*aws.CredentialsCache{}, rechecked: map[Ref]time.Time{}}
}

// Credentials returns the provider of one connection's customer sessions:
// use it as aws.Config.Credentials. Each Retrieve of a new session asks
// RoleCall for the connection first, so a connection that is no longer
// VERIFIED is refused (*NotVerifiedError) at the next refresh. A failed
// refresh is answered again (*RetryLaterError wrapping it) without asking
// RoleCall or STS until a backoff has passed: FailureBackoff, doubling
// with each consecutive failure up to RecheckEvery, forgotten at the
// first success. The same connection always gets the same cached
// provider.
func (c *Client) Credentials(tenantID, accountID string) aws.CredentialsProvider {
	ref := Ref{TenantID: tenantID, AccountID: accountID}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.conns[ref]; ok {
		return p
	}
	p := aws.NewCredentialsCache(&connProvider{c: c, ref: ref}, cacheOptions)
	c.conns[ref] = p
	return p
}

// Config returns a copy of the client's configuration with the
// connection's credentials: aws.Config for SDK clients in the customer's
// account.
func (c *Client) Config(tenantID, accountID string) aws.Config {
	out := c.cfg.Copy()
	out.Credentials = c.Credentials(tenantID, accountID)
	return out
}

// codeCheckTooSoon is RoleCall's answer to a re-check requested while one
// of the connection is already requested.
const codeCheckTooSoon = "CHECK_TOO_SOON"

// ReportAccessDenied tells RoleCall that the connection's credentials
// were refused (say, by a service call the role should allow), asking for
// a re-check at most once per RecheckEvery. It returns whether this call
// requested a re-check: false with no error when this client asked within
// RecheckEvery, or RoleCall answered that a re-check is already requested
// (CHECK_TOO_SOON, its limit held across every process).
func (c *Client) ReportAccessDenied(ctx context.Context, tenantID, accountID string) (bool, error) {
	ref := Ref{TenantID: tenantID, AccountID: accountID}
	now := c.opts.Now()
	c.mu.Lock()
	last, seen := c.rechecked[ref]
	if seen && now.Sub(last) < c.opts.RecheckEvery {
		c.mu.Unlock()
		return false, nil
	}
	c.rechecked[ref] = now
	c.mu.Unlock()
	err := c.api.RequestCheck(ctx, tenantID, accountID)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Code == codeCheckTooSoon {
		// RoleCall takes one requested check per connection per window,
		// from any process: another (or an earlier run of this one) has
		// asked already, which is what this call was for.
		return false, nil
	}
	if err != nil {
		// Not asked: the next denial may ask again, unless another call
		// has asked since.
		c.mu.Lock()
		if c.rechecked[ref].Equal(now) {
			if seen {
				c.rechecked[ref] = last
			} else {
				delete(c.rechecked, ref)
			}
		}
		c.mu.Unlock()
		return false, fmt.Errorf("request a re-check of %s/%s: %w", tenantID, accountID, err)
	}
	return true, nil
}

// dropSession drops the access role's cached session that STS refused,
// whose access key ID is keyID, once: refreshes refused together, or late,
// signed with that session, do not drop the session another refresh has
// assumed since.
func (c *Client) dropSession(arn, keyID string) {
	cache := c.accessRole(arn)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dropped[arn] == keyID {
		return
	}
	c.dropped[arn] = keyID
	cache.Invalidate()
}

func (c *Client) accessRole(arn string) *aws.CredentialsCache {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.accessRoles[arn]; ok {
		return p
	}
	p := newAccessRole(c.cfg, arn, c.opts.Workload, c.opts.RetrieveTimeout, c.opts.Now)
	c.accessRoles[arn] = p
	return p
}

// connProvider assumes one connection's customer role through the access
// role, backing off after a failure.
type connProvider struct {
	c      *Client
	ref    Ref
	failed lastFailure
}

func (p *connProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	if err := p.failed.answer(p.c.opts.Now()); err != nil {
		return aws.Credentials{}, err
	}
	// The SDK's credential cache hands Retrieve a context that is never
	// cancelled: a bound of its own keeps a call that hangs from holding
	// every refresh of the connection. Running out of it is the
	// connection's failure, kept like any other.
	actx, cancel := context.WithTimeout(ctx, p.c.opts.RetrieveTimeout)
	creds, err := p.assume(actx)
	cancel()
	if err != nil {
		p.failed.remember(ctx, err, p.c.opts.Now(), FailureBackoff, p.c.opts.RecheckEvery)
		return aws.Credentials{}, err
	}
	p.failed.clear()
	return creds, nil
}

// assume asks RoleCall for the connection and assumes its role.
func (p *connProvider) assume(ctx context.Context) (aws.Credentials, error) {
	conn, err := p.c.api.Connection(ctx, p.ref.TenantID, p.ref.AccountID)
	if err != nil {
		return aws.Credentials{}, err
	}
	creds, keyID, err := p.chain(ctx, conn)
	if sessionRefused(err) {
		// STS refused the access role's session, not the customer's
		// role: a session of an access role since deleted and created
		// again. Assume the access role anew, once.
		p.c.dropSession(conn.AccessRoleARN, keyID)
		creds, _, err = p.chain(ctx, conn)
	}
	switch {
	case err == nil:
		return creds, nil
	case errors.Is(err, ErrAccessRole):
		return aws.Credentials{}, err
	case sessionRefused(err):
		return aws.Credentials{}, &AccessRoleError{RoleARN: conn.AccessRoleARN, Err: err}
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "AccessDenied" {
		denied := &AccessDeniedError{TenantID: conn.TenantID, AccountID: conn.AccountID, RoleARN: conn.RoleARN, Err: err}
		denied.RecheckRequested, denied.RecheckErr = p.c.ReportAccessDenied(ctx, conn.TenantID, conn.AccountID)
		return aws.Credentials{}, denied
	}
	// A refused signature quotes the canonical request, whose signed
	// headers hold the access role's session token: left out of the text.
	return aws.Credentials{}, fmt.Errorf("assume %s for %s/%s: %w", conn.RoleARN, conn.TenantID, conn.AccountID, redact.Error(err))
}

// chain assumes the connection's role with a session of the access role.
// The access role comes first, so that its refusal (this workload is not
// one of the stack's WorkloadPrincipalArns) is not blamed on the
// customer's role. It returns the access key ID of the access role's
// session it signed with.
func (p *connProvider) chain(ctx context.Context, conn Connection) (aws.Credentials, string, error) {
	accessCreds, err := p.c.accessRole(conn.AccessRoleARN).Retrieve(ctx)
	var refused *AccessRoleError
	switch {
	case errors.As(err, &refused):
		return aws.Credentials{}, "", fmt.Errorf("%w (is this workload's principal in the stack's WorkloadPrincipalArns?)", err)
	case err != nil && !errors.Is(err, ErrAccessRole):
		// This refresh ran out of time waiting for the access role's
		// session: still the access role's failure, not the customer's.
		return aws.Credentials{}, "", fmt.Errorf("%w %s: %w", ErrAccessRole, conn.AccessRoleARN, err)
	case err != nil:
		// The access role's call itself got no answer in time: no
		// refusal to explain.
		return aws.Credentials{}, "", err
	}
	// The access role's session was issued in this Region (its provider
	// settled it alike, and refused a configured Region of another
	// partition); the customer role, of the same partition, is assumed
	// there too.
	region, err := stsRegion(p.c.cfg.Region, conn.AccessRoleARN, conn.Partition)
	if err != nil {
		return aws.Credentials{}, "", err
	}
	inner := stscreds.NewAssumeRoleProvider(sessionSTS{client: p.c.sts, creds: accessCreds, region: region}, conn.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = SessionName(p.c.opts.Workload + "-" + conn.TenantID)
		o.Duration = p.c.opts.Duration
		o.ExternalID = aws.String(conn.ExternalID)
	})
	creds, err := inner.Retrieve(ctx)
	return creds, accessCreds.AccessKeyID, err
}

// sessionSTS is an STS client whose AssumeRole calls sign with one
// session's credentials, whatever the client's own are, and go to that
// session's Region: the access role's session a customer role is assumed
// with. Handing the session to the call rather than to a client made for
// it keeps one client for all refreshes, and signs with exactly the
// session that was checked.
type sessionSTS struct {
	client *sts.Client
	creds  aws.Credentials
	region string
}

var _ stscreds.AssumeRoleAPIClient = sessionSTS{}

// AssumeRole implements stscreds.AssumeRoleAPIClient.
func (s sessionSTS) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	return s.client.AssumeRole(ctx, in, append(optFns, func(o *sts.Options) {
		o.Credentials = credentials.StaticCredentialsProvider{Value: s.creds}
		o.Region = s.region
	})...)
}

// SessionName makes s a valid RoleSessionName: 2-64 characters of
// [\w+=,.@-], other characters replaced by '-'.
func SessionName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 64; i++ {
		ch := s[i]
		if rolearn.IsNameChar(ch) {
			b.WriteByte(ch)
		} else {
			b.WriteByte('-')
		}
	}
	for b.Len() < 2 {
		b.WriteByte('-')
	}
	return b.String()
}
