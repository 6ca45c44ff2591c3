package loadgen

import (
	"fmt"
	"net/netip"
	"strings"
)

// CheckHost refuses to aim load at anything but this machine unless the caller named the
// host explicitly: host is allowed when it is "localhost", a loopback IP literal, or equal
// (ignoring case) to one of allowed. Names are not resolved, so a name that happens to point
// at loopback must still be listed.
func CheckHost(host string, allowed []string) error {
	h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if h == "" {
		return fmt.Errorf("%w: empty host", ErrHostNotAllowed)
	}
	if strings.EqualFold(h, "localhost") {
		return nil
	}
	if ip, err := netip.ParseAddr(h); err == nil && ip.IsLoopback() {
		return nil
	}
	for _, a := range allowed {
		if strings.EqualFold(strings.Trim(a, "[]"), h) {
			return nil
		}
	}
	return fmt.Errorf("%w: %q is not a loopback address; name it with --allow-host %s to target it on purpose", ErrHostNotAllowed, h, h)
}
