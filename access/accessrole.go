package access

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/smithy-go"

	"github.com/rolecall/rolecall/internal/redact"
)

// AccessRole returns a provider of the partner access role's sessions,
// assumed with cfg's credentials and cached until 2.5 to 5 minutes
// (ExpiryWindow, ExpiryWindowJitterFrac) before they expire: one
// sts:AssumeRole per session lifetime, however many customer sessions are
// assumed with it, each given DefaultRetrieveTimeout to answer. STS is
// called in cfg's Region, else (none configured) in the default Region of
// the access role's partition: cn-north-1 for arn:aws-cn:…, us-gov-west-1
// for arn:aws-us-gov:…, us-east-1 for arn:aws:…. A configured Region of
// another partition, where STS would refuse every call, fails each
// Retrieve with a *RegionError instead. STS's refusal for the partner's
// configuration (AccessDenied, or the caller's credentials refused) is
// answered again without asking STS for
// FailureBackoff, doubling while refusals go on, up to
// AccessRoleBackoffMax. It is what RoleCall's verifier and the Client
// chain through.
func AccessRole(cfg aws.Config, roleARN, sessionName string) *aws.CredentialsCache {
	return newAccessRole(cfg, roleARN, sessionName, DefaultRetrieveTimeout, time.Now)
}

// newAccessRole is AccessRole with each sts:AssumeRole bounded by
// timeout, in the Region stsRegion settles, and its backoff after a
// refusal timed by now.
func newAccessRole(cfg aws.Config, roleARN, sessionName string, timeout time.Duration, now func() time.Time) *aws.CredentialsCache {
	region, err := stsRegion(cfg.Region, roleARN, "")
	p := stscreds.NewAssumeRoleProvider(stsClient(cfg, region), roleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = SessionName(sessionName)
		o.Duration = AccessRoleDuration
	})
	return aws.NewCredentialsCache(accessRoleProvider{p: p, arn: roleARN, timeout: timeout, refused: err, now: now, failed: &lastFailure{}}, cacheOptions)
}

// ErrAccessRole: no session of the partner access role could be had, so
// no customer role was asked. Match with errors.Is. STS's answer is an
// *AccessRoleError; no answer in time also matches
// context.DeadlineExceeded.
var ErrAccessRole = errors.New("cannot assume the partner access role")

// AccessRoleError is a failure to assume the partner access role: the
// partner's own configuration (this principal is not trusted by the
// access role, or its credentials expired), never a customer's role. The
// STS error is in the message, but the error unwraps only to
// ErrAccessRole, so that code classifying STS errors by their API code
// never takes the partner's AccessDenied for the customer role's.
type AccessRoleError struct {
	RoleARN string
	Err     error
}

// Error names the access role and why STS refused it, without the
// canonical request STS adds to a refused signature (it holds the base
// credentials' session token).
func (e *AccessRoleError) Error() string {
	return fmt.Sprintf("%v %s: %s", ErrAccessRole, e.RoleARN, redact.Signing(e.Err.Error()))
}

func (e *AccessRoleError) Unwrap() error { return ErrAccessRole }

type accessRoleProvider struct {
	p       aws.CredentialsProvider
	arn     string
	timeout time.Duration
	// refused, when set, is the answer to every Retrieve: the
	// configuration's Region is not one of the access role's partition.
	refused error
	// failed is STS's last refusal for the partner's configuration
	// (configurationRefused), answered again while its backoff
	// lasts (FailureBackoff, doubling to AccessRoleBackoffMax): the
	// credentials cache keeps no error, so without it every call signed
	// with the access role (each probe of each check, each workload's
	// refresh) would ask STS again, outside any STS budget, until the
	// partner mends the access role. A call without an answer in time is
	// not kept.
	failed *lastFailure
	now    func() time.Time
}

// AccessRoleBackoffMax bounds the backoff after STS refused the access
// role: a mended access role is used again within it.
const AccessRoleBackoffMax = 30 * time.Second

func (a accessRoleProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	if a.refused != nil {
		return aws.Credentials{}, a.refused
	}
	if err := a.failed.answer(a.now()); err != nil {
		return aws.Credentials{}, err
	}
	c, err := a.retrieve(ctx)
	var re *AccessRoleError
	switch {
	case err == nil:
		a.failed.clear()
	case errors.As(err, &re) && configurationRefused(re.Err):
		a.failed.remember(ctx, err, a.now(), FailureBackoff, AccessRoleBackoffMax)
	}
	return c, err
}

// configurationRefused reports whether STS refused the access role for
// the partner's configuration, which a retry a moment later does not
// change: AccessDenied (the role is gone, or does not trust the caller),
// or the caller's own credentials refused. Throttling and STS's own
// faults are not: the next call may well succeed.
func configurationRefused(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "AccessDenied" || sessionRefused(err))
}

// retrieve asks STS for a session of the access role.
func (a accessRoleProvider) retrieve(ctx context.Context) (aws.Credentials, error) {
	// The SDK's credentials cache runs this with a context that is never
	// cancelled, and every refresh of every connection waits on the one
	// call: a bound of its own keeps a call that hangs from holding them
	// all for ever.
	actx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	c, err := a.p.Retrieve(actx)
	switch {
	case err == nil:
		return c, nil
	case actx.Err() != nil:
		// No answer, so nothing of the partner's configuration to blame;
		// the context's error alone, so no API code of a retried attempt
		// shows through.
		return aws.Credentials{}, fmt.Errorf("%w %s: no answer within %s: %w", ErrAccessRole, a.arn, a.timeout, actx.Err())
	}
	return aws.Credentials{}, &AccessRoleError{RoleARN: a.arn, Err: err}
}
