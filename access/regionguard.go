package access

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// RegionRefusedError: STS in Region refused the access role's sessions as
// unknown (InvalidClientTokenId), a session issued after it refused one as
// well as that one, while the sessions are issued in another Region: the
// partner account has most likely not enabled Region (a Region that is not
// enabled by default must be enabled in the account making the request,
// not only in the customer's). The clients of ThroughAccessRole fail their
// calls there with it, without sending them, while the session it refused
// lasts; a new session is tried there once. It matches ErrAccessRole: the
// partner's configuration is at fault, never a customer's role.
type RegionRefusedError struct {
	// Region is the one that refuses the sessions.
	Region string
	// Home is the Region the sessions are issued in.
	Home string
	// RoleARN is the access role's.
	RoleARN string
	// Code is STS's error code for the refusal.
	Code string
}

func (e *RegionRefusedError) Error() string {
	return fmt.Sprintf("%v %s: STS in %s refuses its sessions (%s), a new one as well, though %s issues them: enable %s in the partner account, or call STS there no more (remove it from StsRegions)",
		ErrAccessRole, e.RoleARN, e.Region, e.Code, e.Home, e.Region)
}

func (e *RegionRefusedError) Unwrap() error { return ErrAccessRole }

// regionGuard is the middleware of ThroughAccessRole's clients that drops
// the cached access-role session when STS refuses it (sessionRefused): a
// session of an access role since deleted and created again is refused
// everywhere, and the next call gets a new one. A session is dropped
// once, however many of its calls were refused, so calls in flight do not
// drop its successor too.
//
// A Region other than home (where the sessions are issued, so where they
// are known valid) can refuse every session of the partner account: an
// opt-in Region the account has not enabled answers InvalidClientTokenId
// to any call signed by it. Dropping the session then would assume the
// access role again on every refusal, outside any STS budget, and in vain.
// So a Region that refuses a session issued after it refused another one,
// with no success between, is blocked for that session: its calls fail
// with a *RegionRefusedError before they are sent, and nothing is
// dropped. A new session (the old one expired, or home refused it) is
// tried there once; a success there unblocks the Region.
type regionGuard struct {
	cache   *aws.CredentialsCache
	roleARN string
	home    string

	mu      sync.Mutex
	dropped string // the access key ID of the session dropped last
	// refusedIn: Region (not home) -> the access key ID of the session it
	// refused last, since its last success.
	refusedIn map[string]string
	// blocked: Region -> the session it refuses for good.
	blocked map[string]blockedSession
}

// blockedSession is a session refused for good in a Region: its access
// key ID, and STS's error code.
type blockedSession struct{ key, code string }

// add puts the guard into a client's stack: last in Finalize, after the
// request is signed, so it sees the session and the Region the call is
// signed for.
func (g *regionGuard) add(s *middleware.Stack) error {
	return s.Finalize.Add(middleware.FinalizeMiddlewareFunc("rolecallAccessRoleSession", g.handle), middleware.After)
}

func (g *regionGuard) handle(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	key, region := signedWith(in.Request)
	if err := g.refused(key, region); err != nil {
		return middleware.FinalizeOutput{}, middleware.Metadata{}, err
	}
	out, md, err := next.HandleFinalize(ctx, in)
	return out, md, g.answered(key, region, err)
}

// refused is the refusal of a call signed with session key for region,
// when region refuses that session for good.
func (g *regionGuard) refused(key, region string) error {
	if key == "" {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.blockedFor(key, region)
}

// blockedFor is the refusal of a call signed with session key for region
// when region is blocked for that session, else nil; g.mu is held.
func (g *regionGuard) blockedFor(key, region string) error {
	if b, ok := g.blocked[region]; ok && b.key == key {
		return &RegionRefusedError{Region: region, Home: g.home, RoleARN: g.roleARN, Code: b.code}
	}
	return nil
}

// answered records what STS answered a call signed with session key for
// region, and returns the error the call fails with.
func (g *regionGuard) answered(key, region string, err error) error {
	var ae smithy.APIError
	if err != nil && (!sessionRefused(err) || !errors.As(err, &ae)) {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err == nil {
		delete(g.refusedIn, region)
		delete(g.blocked, region)
		return nil
	}
	if key != "" && region != g.home {
		if err := g.blockedFor(key, region); err != nil {
			// A call sent before the Region was blocked for this
			// session: the session stays, as for the calls stopped.
			return err
		}
		if prev, ok := g.refusedIn[region]; ok && prev != key {
			// A new session refused where an older one was: the Region
			// refuses the partner's sessions, not this one.
			g.refusedIn[region] = key
			g.blocked[region] = blockedSession{key: key, code: ae.ErrorCode()}
			return &RegionRefusedError{Region: region, Home: g.home, RoleARN: g.roleARN, Code: ae.ErrorCode()}
		}
		g.refusedIn[region] = key
	}
	if key == "" || key != g.dropped {
		g.dropped = key
		g.cache.Invalidate()
	}
	return err
}

// signedWith is the access key ID and the Region of the SigV4 signature of
// a signed request ("" when it carries none).
func signedWith(req any) (key, region string) {
	r, ok := req.(*smithyhttp.Request)
	if !ok {
		return "", ""
	}
	_, scope, ok := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	if !ok {
		return "", ""
	}
	scope, _, _ = strings.Cut(scope, ",")
	// <access key ID>/<date>/<region>/<service>/aws4_request
	fields := strings.Split(scope, "/")
	if len(fields) != 5 {
		return "", ""
	}
	return fields[0], fields[2]
}
