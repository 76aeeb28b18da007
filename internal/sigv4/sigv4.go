// Package sigv4 checks the AWS Signature Version 4 signature of a received
// HTTP request, as an AWS service does before it looks at who calls: it
// parses the Authorization header and signs a copy of the request again,
// with aws-sdk-go-v2's own signer, over exactly the headers the client
// signed, so a request signed with another secret, for another service or
// Region, or changed after it was signed, is refused.
//
// Only header signatures over the payload's SHA-256 are checked (the form
// every AWS SDK and the AWS CLI use for calls outside S3); presigned URLs
// and UNSIGNED-PAYLOAD are not. Verify does not compare the signing time
// with a clock; CheckTime does, against the clock its caller passes, which
// is the wall clock's even for a receiver on a simulated clock, since
// clients sign at the real time.
package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Signature is the parsed Authorization header of a signed request.
type Signature struct {
	AccessKeyID string
	// Date, Region and Service are the credential scope: Date is the
	// signing day, yyyymmdd.
	Date, Region, Service string
	// SignedHeaders are the lower-case names the client signed, sorted.
	SignedHeaders []string
	// Value is the hex signature.
	Value string
}

// The three ways a request fails the check, for errors.Is. They match the
// error codes AWS answers with: MissingAuthenticationToken,
// IncompleteSignature and SignatureDoesNotMatch.
var (
	ErrMissing    = errors.New("request is not signed with SigV4")
	ErrIncomplete = errors.New("request signature does not conform to AWS standards")
	ErrMismatch   = errors.New("the request signature we calculated does not match the signature you provided")
)

// ErrExpired: a request signed more than MaxSkew before or after it is
// received (CheckTime). It matches ErrMismatch, as AWS answers it with
// SignatureDoesNotMatch ("Signature expired", "Signature not yet
// current").
var ErrExpired = fmt.Errorf("%w: signature expired or not yet current", ErrMismatch)

// MaxSkew is how far a request's signing time may be from the time it is
// received: "a request must reach AWS within five minutes of the time stamp
// in the request" (IAM User Guide, Signing AWS API requests). STS has been
// seen to allow 15 minutes; five is the documented bound, never more
// lenient.
const MaxSkew = 5 * time.Minute

// dateFormat is X-Amz-Date's: ISO 8601 basic, UTC.
const dateFormat = "20060102T150405Z"

// CheckTime checks the signing time of r, signed with sig: its X-Amz-Date
// must be there (else ErrIncomplete), fall on the credential scope's day
// (else ErrMismatch) and be within MaxSkew of now (else ErrExpired).
func CheckTime(r *http.Request, sig Signature, now time.Time) error {
	at, err := signedAt(r, sig)
	if err != nil {
		return err
	}
	return current(at, now)
}

// current checks that a request signed at at and received at now is
// within MaxSkew of it (ErrExpired naming both, as AWS does).
func current(at, now time.Time) error {
	switch {
	case at.Before(now.Add(-MaxSkew)):
		return fmt.Errorf("%w: Signature expired: %s is now earlier than %s (%s - %d min.)", ErrExpired,
			at.UTC().Format(dateFormat), now.Add(-MaxSkew).UTC().Format(dateFormat), now.UTC().Format(dateFormat), int(MaxSkew.Minutes()))
	case at.After(now.Add(MaxSkew)):
		return fmt.Errorf("%w: Signature not yet current: %s is still later than %s (%s + %d min.)", ErrExpired,
			at.UTC().Format(dateFormat), now.Add(MaxSkew).UTC().Format(dateFormat), now.UTC().Format(dateFormat), int(MaxSkew.Minutes()))
	}
	return nil
}

// Message is what AWS says of a refusal by CheckTime or Verify: err's text
// without the sentinel it wraps.
func Message(err error) string {
	msg := err.Error()
	for _, e := range []error{ErrExpired, ErrMismatch, ErrIncomplete, ErrMissing} {
		if rest, ok := strings.CutPrefix(msg, e.Error()+": "); ok {
			return rest
		}
	}
	return msg
}

// signedAt is r's X-Amz-Date, which must fall on sig's scope day.
func signedAt(r *http.Request, sig Signature) (time.Time, error) {
	at, err := time.Parse(dateFormat, r.Header.Get("X-Amz-Date"))
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: X-Amz-Date is missing or malformed", ErrIncomplete)
	}
	if at.Format("20060102") != sig.Date {
		return time.Time{}, fmt.Errorf("%w: credential scope date %s is not the day of X-Amz-Date", ErrMismatch, sig.Date)
	}
	return at, nil
}

const algorithm = "AWS4-HMAC-SHA256"

var (
	scopeRE = regexp.MustCompile(`^([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request$`)
	hexRE   = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Parse reads r's Authorization header. A request without one, or with
// another scheme than AWS4-HMAC-SHA256, is ErrMissing; a header that is not
// well-formed SigV4 (a missing or malformed part, unsorted or duplicate
// signed headers, host not signed, the Authorization header itself signed)
// is ErrIncomplete.
func Parse(r *http.Request) (Signature, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return Signature{}, ErrMissing
	}
	rest, ok := strings.CutPrefix(h, algorithm+" ")
	if !ok {
		return Signature{}, fmt.Errorf("%w: Authorization is not %s", ErrMissing, algorithm)
	}
	parts := map[string]string{}
	for _, p := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if _, dup := parts[k]; !ok || dup {
			return Signature{}, fmt.Errorf("%w: malformed Authorization header", ErrIncomplete)
		}
		parts[k] = v
	}
	m := scopeRE.FindStringSubmatch(parts["Credential"])
	if m == nil {
		return Signature{}, fmt.Errorf("%w: malformed Credential", ErrIncomplete)
	}
	signed := strings.Split(parts["SignedHeaders"], ";")
	if !slices.IsSorted(signed) || len(slices.Compact(slices.Clone(signed))) != len(signed) ||
		!slices.Contains(signed, "host") || slices.Contains(signed, "authorization") ||
		slices.ContainsFunc(signed, func(s string) bool { return s == "" || s != strings.ToLower(s) }) {
		return Signature{}, fmt.Errorf("%w: malformed SignedHeaders", ErrIncomplete)
	}
	if !hexRE.MatchString(parts["Signature"]) {
		return Signature{}, fmt.Errorf("%w: malformed Signature", ErrIncomplete)
	}
	return Signature{AccessKeyID: m[1], Date: m[2], Region: m[3], Service: m[4], SignedHeaders: signed, Value: parts["Signature"]}, nil
}

// Verify checks that sig, parsed from r, is the signature creds give r for
// service, with body as the request's payload (r's own body is not read).
// The session token signed must be creds.SessionToken, and the request's
// X-Amz-Date must fall on the credential scope's day.
func Verify(ctx context.Context, r *http.Request, body []byte, sig Signature, creds aws.Credentials, service string) error {
	if sig.AccessKeyID != creds.AccessKeyID {
		return fmt.Errorf("%w: signed by %s, not %s", ErrMismatch, sig.AccessKeyID, creds.AccessKeyID)
	}
	if sig.Service != service {
		return fmt.Errorf("%w: credential should be scoped to service %q, not %q", ErrMismatch, service, sig.Service)
	}
	at, err := signedAt(r, sig)
	if err != nil {
		return err
	}
	if tok := r.Header.Get("X-Amz-Security-Token"); tok != creds.SessionToken || (tok != "") != slices.Contains(sig.SignedHeaders, "x-amz-security-token") {
		return fmt.Errorf("%w: session token is not the one signed", ErrMismatch)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	cp := &http.Request{
		Method: r.Method,
		URL:    &url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery},
		Host:   r.Host,
		Header: http.Header{},
	}
	for _, name := range sig.SignedHeaders {
		switch name {
		case "host":
		case "content-length":
			cp.ContentLength = r.ContentLength
		default:
			// A copy: the signer writes some values in place, and the
			// request checked must stay as it came.
			cp.Header[http.CanonicalHeaderKey(name)] = slices.Clone(r.Header.Values(name))
		}
	}
	sum := sha256.Sum256(body)
	// A signer of its own for each check: the SDK's signer caches the keys
	// it derives by access key ID and scope, not by secret, so a shared one
	// would check one secret with the key derived from another.
	if err := v4.NewSigner().SignHTTP(ctx, creds, cp, hex.EncodeToString(sum[:]), service, sig.Region, at); err != nil {
		return fmt.Errorf("sigv4: sign a copy of the request: %w", err)
	}
	want, err := Parse(cp)
	if err != nil {
		return fmt.Errorf("sigv4: parse the copy's signature: %w", err)
	}
	// A header the SDK's signer never signs (User-Agent, Expect, …) makes
	// the two lists differ: such a request is refused, not half-checked.
	if !slices.Equal(want.SignedHeaders, sig.SignedHeaders) || !hmac.Equal([]byte(want.Value), []byte(sig.Value)) {
		return ErrMismatch
	}
	return nil
}
