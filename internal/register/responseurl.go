package register

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rolecall/rolecall/internal/rolearn"
)

// ErrResponseURLRefused: a ResponseURL outside the allowlist. It is never
// fetched.
var ErrResponseURLRefused = errors.New("response URL refused")

// MaxResponseBody is CloudFormation's limit on a response body.
const MaxResponseBody = 4096

// bucketPrefix starts the names of the S3 buckets CloudFormation presigns
// custom-resource response URLs in: one per Region, named with the Region's
// hyphens removed (cloudformation-custom-resource-response-useast1).
const bucketPrefix = "cloudformation-custom-resource-response-"

// Regions is the explicit list of Regions whose response buckets and S3
// endpoints are accepted. A bucket name for any other "region" could be
// anyone's bucket, so it is refused.
var Regions = []string{
	"us-east-1", "us-east-2", "us-west-1", "us-west-2",
	"af-south-1", "ap-east-1", "ap-east-2", "ap-south-1", "ap-south-2",
	"ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
	"ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
	"ca-central-1", "ca-west-1",
	"eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-south-1", "eu-south-2", "eu-north-1",
	"il-central-1", "me-south-1", "me-central-1", "mx-central-1", "sa-east-1",
	"us-gov-east-1", "us-gov-west-1", "cn-north-1", "cn-northwest-1",
}

var (
	knownRegion  = map[string]bool{}
	bucketRegion = map[string]string{} // region without hyphens -> region
)

func init() {
	for _, r := range Regions {
		knownRegion[r] = true
		bucketRegion[strings.ReplaceAll(r, "-", "")] = r
	}
}

// URLPolicy is what CheckResponseURL accepts beyond its fixed rules.
type URLPolicy struct {
	// Region, when set, is the only Region whose response bucket is
	// accepted: CloudFormation requires a custom resource's SNS topic to be
	// in the stack's Region, so every genuine request for this deployment's
	// topic is answered to that Region's bucket.
	Region string
	// AllowLoopback accepts http://127.0.0.1:PORT/ URLs (the sandbox only).
	AllowLoopback bool
}

// s3Endpoint reports whether host is an S3 endpoint of the form a presigned
// URL of CloudFormation's response buckets uses, the Region it names (""
// for the global s3.amazonaws.com) and the domain it ends in:
// s3.amazonaws.com, s3.<region>.amazonaws.com, s3-<region>.amazonaws.com,
// and the same under amazonaws.com.cn.
func s3Endpoint(host string) (region, domain string, ok bool) {
	var rest string
	for _, d := range []string{"amazonaws.com", "amazonaws.com.cn"} {
		if r, found := strings.CutSuffix(host, "."+d); found {
			rest, domain = r, d
			break
		}
	}
	switch {
	case domain == "":
		return "", "", false
	case rest == "s3":
		return "", domain, true
	}
	if r, found := strings.CutPrefix(rest, "s3."); found && knownRegion[r] {
		return r, domain, true
	}
	if r, found := strings.CutPrefix(rest, "s3-"); found && knownRegion[r] {
		return r, domain, true
	}
	return "", "", false
}

// responseBucket reports whether name is the response bucket of a known
// Region, consistent with the endpoint's Region when it names one, with the
// policy's Region when it is set, and served under its own partition's
// domain: each partition has its own bucket namespace, so the China
// Regions' bucket names under amazonaws.com, or the others' under
// amazonaws.com.cn, could be anyone's buckets.
func (p URLPolicy) responseBucket(name, endpointRegion, domain string) bool {
	short, ok := strings.CutPrefix(name, bucketPrefix)
	if !ok {
		return false
	}
	region, ok := bucketRegion[short]
	if !ok {
		return false
	}
	return (endpointRegion == "" || endpointRegion == region) && (p.Region == "" || p.Region == region) &&
		rolearn.DNSSuffix(region) == domain
}

// CheckResponseURL parses a custom-resource request's ResponseURL and
// accepts it only when it is an HTTPS URL, without user info or an explicit
// port other than 443, of one of CloudFormation's response buckets, in
// virtual-hosted (bucket.s3[.-]region.amazonaws.com) or path style
// (s3[.-]region.amazonaws.com/bucket/…). With p.AllowLoopback (the sandbox
// only), http://127.0.0.1:PORT/… is accepted too. Buckets are those of
// the explicit Regions list (and of p.Region only, when set). The URL returned is the
// one to send to: what was checked is exactly what is dialled.
func CheckResponseURL(raw string, p URLPolicy) (*url.URL, error) {
	refuse := func(why string) (*url.URL, error) {
		return nil, fmt.Errorf("%w: %s", ErrResponseURLRefused, why)
	}
	if raw == "" || len(raw) > 8192 {
		return refuse("empty or longer than 8192 bytes")
	}
	for _, c := range raw {
		if c <= ' ' || c == 0x7f || c == '\\' || c > 0x7e {
			return refuse("not a plain ASCII URL")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return refuse("not a URL")
	}
	if u.User != nil || u.Opaque != "" || u.Fragment != "" {
		return refuse("user info, opaque part or fragment")
	}
	// S3 takes a key's "." and ".." segments literally, but a client or a
	// proxy on the way may resolve them to another bucket's path: a
	// response URL CloudFormation presigned has none.
	for _, seg := range strings.Split(u.EscapedPath(), "/") {
		if dots := strings.ReplaceAll(strings.ToLower(seg), "%2e", "."); dots == "." || dots == ".." {
			return refuse("a dot segment in the path")
		}
	}
	host := u.Hostname()
	if p.AllowLoopback && u.Scheme == "http" && host == "127.0.0.1" && u.Port() != "" && u.Host == "127.0.0.1:"+u.Port() {
		return u, nil
	}
	if u.Scheme != "https" {
		return refuse("not https")
	}
	if p := u.Port(); p != "" && p != "443" {
		return refuse("a port other than 443")
	}
	if host != strings.ToLower(host) || net.ParseIP(host) != nil {
		return refuse("an IP literal or a host not in lower case")
	}
	// Virtual-hosted style: <bucket>.<s3 endpoint>.
	if bucket, endpoint, ok := strings.Cut(host, "."); ok && strings.HasPrefix(bucket, bucketPrefix) {
		if region, domain, ok := s3Endpoint(endpoint); ok && p.responseBucket(bucket, region, domain) {
			return u, nil
		}
		return refuse("not an S3 endpoint of CloudFormation's response buckets")
	}
	// Path style: <s3 endpoint>/<bucket>/<key>.
	if region, domain, ok := s3Endpoint(host); ok {
		bucket, key, _ := strings.Cut(strings.TrimPrefix(u.EscapedPath(), "/"), "/")
		if p.responseBucket(bucket, region, domain) && key != "" {
			return u, nil
		}
		return refuse("not a CloudFormation response bucket")
	}
	return refuse("host not in the allowlist")
}

// Responder answers custom-resource requests: one HTTPS PUT to an
// allowlisted ResponseURL, no redirects followed, no proxy, bounded time.
type Responder struct {
	// Client sends the PUT; default a client with Timeout and no redirects.
	// A client given here must refuse redirects itself.
	Client *http.Client
	// Timeout bounds one answer (default DefaultAnswerTimeout).
	Timeout time.Duration
	// Policy is the allowlist's Region and the sandbox's loopback.
	Policy URLPolicy

	once  sync.Once
	built *http.Client // the default client, built once: answers reuse its connections
}

func (r *Responder) client() *http.Client {
	if r.Client != nil {
		return r.Client
	}
	r.once.Do(func() {
		r.built = &http.Client{
			Transport:     &http.Transport{Proxy: nil, TLSHandshakeTimeout: 5 * time.Second, ResponseHeaderTimeout: 5 * time.Second, MaxIdleConns: 2},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Timeout:       r.timeout(),
		}
	})
	return r.built
}

// DefaultAnswerTimeout bounds one answer of a Responder without a
// Timeout.
const DefaultAnswerTimeout = 10 * time.Second

// AnswerTimeout is the longest one Respond takes: Timeout, or
// DefaultAnswerTimeout.
func (r *Responder) AnswerTimeout() time.Duration { return r.timeout() }

func (r *Responder) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return DefaultAnswerTimeout
}

// Accept returns the error of CheckResponseURL for rawURL under r.Policy:
// the URLs Respond answers to.
func (r *Responder) Accept(rawURL string) error {
	_, err := CheckResponseURL(rawURL, r.Policy)
	return err
}

// Respond PUTs body to rawURL after CheckResponseURL accepts it. The body
// must be at most MaxResponseBody bytes. Content-Type is sent empty, as the
// presigned URL was signed without one. Any status but 2xx is an error
// (a redirect is never followed).
func (r *Responder) Respond(ctx context.Context, rawURL string, body []byte) error {
	u, err := CheckResponseURL(rawURL, r.Policy)
	if err != nil {
		return err
	}
	if len(body) > MaxResponseBody {
		return fmt.Errorf("response body of %d bytes exceeds %d", len(body), MaxResponseBody)
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("answer to %s: %w", u.Host, err)
	}
	req.URL = u // exactly what was checked
	req.Header["Content-Type"] = []string{""}
	req.ContentLength = int64(len(body))
	resp, err := r.client().Do(req)
	if err != nil {
		// A *url.Error's text is the whole URL, whose query holds the
		// presigned signature: keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("answer to %s: %w", u.Host, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch code := resp.StatusCode; {
	case code >= 200 && code <= 299:
		return nil
	case code == http.StatusBadRequest && bytes.Contains(answer, []byte("<Code>RequestTimeout</Code>")):
		// S3's 400 for a request body it did not get in time: try again.
		return fmt.Errorf("answer to %s: HTTP %d RequestTimeout", u.Host, code)
	case code >= 400 && code <= 499 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests:
		// The bucket refused the URL itself (not presigned, expired, no
		// such bucket): no retry can change that.
		return fmt.Errorf("answer to %s: HTTP %d: %w", u.Host, code, ErrAnswerRefused)
	default:
		return fmt.Errorf("answer to %s: HTTP %d", u.Host, code)
	}
}

// ErrAnswerRefused: the response bucket refused an answer for good (a 4xx
// other than a timeout or throttling), as it does a URL CloudFormation did
// not presign or whose signature expired.
var ErrAnswerRefused = errors.New("the response bucket refused the answer")
