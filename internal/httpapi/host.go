package httpapi

import (
	"net"
	"net/http"
	"strings"

	"github.com/rolecall/rolecall/internal/loopback"
)

// CodeMisdirected is the error code of a request whose Host header names a
// host this server does not answer for (421). Part of the API contract.
const CodeMisdirected = "MISDIRECTED_REQUEST"

// LoopbackHosts wraps next so that it answers only requests whose Host
// names this machine by a loopback name or address (loopback.Host:
// localhost, 127.0.0.0/8, [::1], with any port) or one of the extra host names or
// addresses (compared without port and case); any other request gets 421
// Misdirected Request with the API's JSON error and never reaches next.
//
// It is the defence against DNS rebinding for a server on a developer's
// machine (`rolecall serve`): a web page whose name an attacker re-points
// at 127.0.0.1 reaches the server from the victim's browser, but with the
// attacker's name as Host. The Lambda does not use it: API Gateway fronts
// it and routes by host already.
//
// It passes the server's ResponseWriter to next unwrapped, so that
// http.MaxBytesReader and http.ResponseController still reach it.
func LoopbackHosts(next http.Handler, extra ...string) http.Handler {
	allowed := make(map[string]bool, len(extra))
	for _, h := range extra {
		if h = canonicalHost(h); h != "" {
			allowed[h] = true
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := canonicalHost(r.Host)
		if h == "" || (!loopback.Host(h) && !allowed[h]) {
			securityHeaders(w.Header(), r)
			w.Header().Set("Connection", "close")
			refuse(w, refused(CodeMisdirected,
				"this server answers only requests addressed to localhost, a loopback address or its configured public host", ""))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// canonicalHost is the host of a Host header value (or of a peer address
// or a configured host name) without port, brackets and trailing dot, in lower case; ""
// when there is none.
func canonicalHost(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.ToLower(strings.TrimSuffix(h, "."))
}
