// Package loopback tells whether a host name or address stays on this machine. The client (plain http
// only to loopback) and the command line (the fake server listens on loopback only) share it.
package loopback

import (
	"net"
	"strings"
)

// Host reports whether host, a name or an IP address without a port, is loopback: localhost, 127.0.0.0/8
// or ::1.
func Host(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
