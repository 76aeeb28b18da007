// Package loopback decides whether a host names this machine, for the
// checks that treat this machine differently from the network: the DNS
// rebinding guard and the local-browser check of the HTTP API, serve's
// refusal to listen beyond loopback, the credentials serve gives a
// DynamoDB endpoint, and the ops client's choice of authentication.
//
// It accepts "localhost" in any case and an IP address in standard
// notation that is a loopback address (127.0.0.0/8, ::1, and 127.0.0.0/8
// mapped into IPv6 as ::ffff:127.0.0.1). It accepts no other spelling of
// an address, such as 2130706433 or 0x7f.1: a browser resolves those to
// an address before sending a request, so only a crafted client sends
// them, and none of RoleCall's configuration needs them. It does not
// resolve names either: what another name resolves to is not known when
// the check runs, and may change after it.
package loopback

import (
	"net"
	"strings"
)

// Host reports whether host, a bare host without port or brackets, is
// localhost or a loopback IP address. Callers remove a port, IPv6
// brackets or a root dot themselves, each as its input is spelled.
func Host(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
