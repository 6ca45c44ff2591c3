package httptarget

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/casebook-ml/casebook/loadgen"
)

// KeyPlaceholder, in Config.URL's path or query, is replaced by each request's Key
// (percent-encoded), e.g. http://127.0.0.1:8080/v1/users/{{key}}/recommendations?k=10.
const KeyPlaceholder = "{{key}}"

// keyMarker stands in for KeyPlaceholder while the URL is parsed: unreserved characters
// only, so parsing and re-encoding leave it as it is and it can be found again.
const keyMarker = "LOADGENKEY0d5c9e"

// parseURL parses a target URL whose path and query may hold KeyPlaceholder. It returns
// the URL with every placeholder replaced by keyMarker and the number of placeholders. A
// placeholder anywhere else (scheme, host, user info, fragment), or any other {{...}},
// is refused.
func parseURL(raw string) (*url.URL, int, error) {
	if strings.Contains(raw, keyMarker) {
		return nil, 0, fmt.Errorf("%w: target %q contains the reserved text %q", loadgen.ErrInvalidConfig, raw, keyMarker)
	}
	n := strings.Count(raw, KeyPlaceholder)
	marked := strings.ReplaceAll(raw, KeyPlaceholder, keyMarker)
	if i := strings.Index(marked, "{{"); i >= 0 && strings.Contains(marked[i:], "}}") {
		return nil, 0, fmt.Errorf("%w: target %q: the only placeholder a URL takes is %s", loadgen.ErrInvalidConfig, raw, KeyPlaceholder)
	}
	u, err := url.Parse(marked)
	if err != nil {
		// Report the error on the URL as given, not on the marked one.
		return nil, 0, fmt.Errorf("%w: target %q: %v", loadgen.ErrInvalidConfig, raw, strings.ReplaceAll(err.Error(), keyMarker, KeyPlaceholder))
	}
	if n > 0 && strings.Count(u.RequestURI(), keyMarker) != n {
		return nil, 0, fmt.Errorf("%w: target %q: %s may appear only in the path or the query", loadgen.ErrInvalidConfig, raw, KeyPlaceholder)
	}
	return u, n, nil
}

// appendKey appends key percent-encoded: everything but RFC 3986's unreserved characters
// (letters, digits, - . _ ~) is escaped, which is safe in a path segment and in a query
// value alike. A key that needs no escaping (a numeric id) is copied as it is.
func appendKey(b []byte, key string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(key); i++ {
		c := key[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hex[c>>4], hex[c&0xf])
	}
	return b
}

// fillTemplate joins parts (a URL split around its placeholders) with the escaped key.
func fillTemplate(b []byte, parts []string, key string) []byte {
	b = append(b, parts[0]...)
	for _, p := range parts[1:] {
		b = appendKey(b, key)
		b = append(b, p...)
	}
	return b
}
