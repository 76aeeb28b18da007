package emulator

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/rolecall/rolecall/internal/httpapi"
	"github.com/rolecall/rolecall/internal/loopback"
	"github.com/rolecall/rolecall/internal/rolesetup"
)

// MinOpsToken is the shortest ops token accepted: a token a person typed
// or an old default should not guard the ops routes.
const MinOpsToken = 32

// Validate refuses options that would expose the pipeline beyond this
// machine, or guard it weakly:
//   - Addr must be a loopback host (127.0.0.0/8, ::1, localhost) unless
//     Public is set; an empty host (all interfaces) is not loopback;
//   - Public needs AWS: the sandbox's control routes are unauthenticated
//     and its STS signs with a published key, so it never leaves this
//     machine; and it needs PublicHost, the name clients use, since
//     requests naming any other host are refused;
//   - PublicHost is a bare host name or IP address, only with Public;
//   - a TrustedPrincipalARN, when set, is a role or an account root
//     (rolesetup.ValidatePrincipal);
//   - an OpsToken, when set, passes ValidateOpsToken;
//   - a TemplateURL, when set, is one quick-create links can use
//     (rolesetup.ValidateTemplateURL), as the API function requires at
//     start: with another, every invite's setup would fail.
func (o Options) Validate() error {
	var errs []error
	addr := o.Addr
	if addr == "" {
		addr = defaultAddr
	}
	host, _, err := net.SplitHostPort(addr)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("listen address (--addr) %q: want host:port, e.g. 127.0.0.1:8080", addr))
	case !o.Public && !loopback.Host(host):
		errs = append(errs, fmt.Errorf("listen address (--addr) %q is not a loopback address: the server would be reachable from other machines; "+
			"listen on 127.0.0.1 (or [::1], localhost), or, with AWS mode (--aws; never with the sandbox), allow it with public mode (--public)", addr))
	}
	if o.Public && !o.AWS {
		errs = append(errs, errors.New("public mode (--public) is never with the sandbox: its control routes are unauthenticated and its STS signs with a published key; use AWS mode (--aws)"))
	}
	if o.Public && o.PublicHost == "" {
		errs = append(errs, errors.New("public mode (--public) needs a public host (--public-host): the host name (or IP address) clients reach this server by; requests naming any other host are refused"))
	}
	if o.PublicHost != "" {
		if !o.Public {
			errs = append(errs, errors.New("a public host (--public-host) needs public mode (--public)"))
		}
		if !validPublicHost(o.PublicHost) {
			errs = append(errs, fmt.Errorf("public host (--public-host) %q: want a host name or IP address, without scheme, port or path", o.PublicHost))
		}
	}
	if o.TrustedPrincipalARN != "" {
		if err := rolesetup.ValidatePrincipal(o.TrustedPrincipalARN); err != nil {
			errs = append(errs, fmt.Errorf("trusted principal (--trusted-principal-arn): %w", err))
		}
	}
	if o.OpsToken != "" {
		if err := ValidateOpsToken(o.OpsToken); err != nil {
			errs = append(errs, err)
		}
	}
	if o.TemplateURL != "" {
		if err := rolesetup.ValidateTemplateURL(o.TemplateURL); err != nil {
			errs = append(errs, fmt.Errorf("customer role template URL (--template-url, CUSTOMER_ROLE_TEMPLATE_URL): %w", err))
		}
	}
	return errors.Join(errs...)
}

// ValidateOpsToken accepts a token of at least MinOpsToken printable
// ASCII characters without spaces, as an Authorization header carries it.
func ValidateOpsToken(tok string) error {
	if len(tok) < MinOpsToken {
		return fmt.Errorf("the ops token has %d characters; it needs at least %d", len(tok), MinOpsToken)
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] <= ' ' || tok[i] > '~' {
			return fmt.Errorf("the ops token has a space, control or non-ASCII character at byte %d; use printable ASCII only", i)
		}
	}
	return nil
}

// defaultAddr is where serve listens by default.
const defaultAddr = "127.0.0.1:8080"

// validPublicHost accepts an IP address or a DNS host name (labels of 1-63
// letters, digits and hyphens, not starting or ending with a hyphen; 253
// characters at most).
func validPublicHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// checkListener refuses a listener that is not on a loopback address
// unless the options allow it: a loopback name such as localhost could
// resolve elsewhere.
func (o Options) checkListener(ln net.Listener) error {
	a, ok := ln.Addr().(*net.TCPAddr)
	if o.Public || (ok && a.IP.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("listen address %s is not a loopback address; the server would be reachable from other machines", ln.Addr())
}

// hostGuard wraps a handler with the Host check: loopback names and
// addresses, and the public host when there is one.
func (o Options) hostGuard(h http.Handler) http.Handler {
	if o.PublicHost != "" {
		return httpapi.LoopbackHosts(h, o.PublicHost)
	}
	return httpapi.LoopbackHosts(h)
}
