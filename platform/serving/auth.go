package serving

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
)

// APIKey grants a tenant access. Models lists what the key may call: exact names, "*" for
// all, or a prefix ending in "*" ("fraud-*"). Admin keys may also load and unload models
// and move aliases.
type APIKey struct {
	Key    string
	Tenant string
	Models []string
	Admin  bool
}

// principal is who a key belongs to; the key itself is kept only as a hash.
type principal struct {
	tenant string
	models []string
	admin  bool
}

// authenticator looks keys up by their sha256, so the secret is never stored, compared
// byte by byte or logged.
type authenticator struct {
	byHash map[[32]byte]principal
}

func newAuthenticator(keys []APIKey) *authenticator {
	a := &authenticator{byHash: make(map[[32]byte]principal, len(keys))}
	for _, k := range keys {
		a.byHash[sha256.Sum256([]byte(k.Key))] = principal{tenant: k.Tenant, models: k.Models, admin: k.Admin}
	}
	return a
}

func (a *authenticator) enabled() bool { return len(a.byHash) > 0 }

// keyOf reads "Authorization: Bearer KEY" or "X-API-Key: KEY".
func keyOf(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if k, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(k)
		}
	}
	return strings.TrimSpace(r.Header.Get("X-API-Key"))
}

// check authenticates r and authorizes it for model (or, with admin, for administration).
func (a *authenticator) check(r *http.Request, model string, admin bool) (principal, error) {
	if !a.enabled() {
		return principal{tenant: "anonymous", models: []string{"*"}, admin: true}, nil
	}
	key := keyOf(r)
	if key == "" {
		return principal{}, fmt.Errorf("%w: send Authorization: Bearer <key> or X-API-Key", ErrUnauthenticated)
	}
	p, ok := a.byHash[sha256.Sum256([]byte(key))]
	if !ok {
		return principal{}, ErrUnauthenticated
	}
	if admin && !p.admin {
		return p, fmt.Errorf("%w: tenant %s may not administer models", ErrForbidden, p.tenant)
	}
	if model != "" && !p.may(model) {
		return p, fmt.Errorf("%w: tenant %s may not call model %q", ErrForbidden, p.tenant, model)
	}
	return p, nil
}

func (p principal) may(model string) bool {
	for _, m := range p.models {
		if m == "*" || m == model || (strings.HasSuffix(m, "*") && strings.HasPrefix(model, strings.TrimSuffix(m, "*"))) {
			return true
		}
	}
	return false
}

// Keyring is the API keys of a keys file, looked up by their sha256 as the server does,
// for other processes that accept the same keys (the console).
type Keyring struct{ a *authenticator }

// NewKeyring holds keys; an empty Keyring knows no key.
func NewKeyring(keys []APIKey) *Keyring { return &Keyring{a: newAuthenticator(keys)} }

// Len is how many distinct keys the ring holds.
func (k *Keyring) Len() int { return len(k.a.byHash) }

// Lookup returns the tenant of key and whether the key is an admin key; ok is false for an
// empty or unknown key.
func (k *Keyring) Lookup(key string) (tenant string, admin, ok bool) {
	if key == "" {
		return "", false, false
	}
	p, ok := k.a.byHash[sha256.Sum256([]byte(key))]
	return p.tenant, p.admin, ok
}

// KeyOf reads a request's key from "Authorization: Bearer KEY" or "X-API-Key: KEY".
func KeyOf(r *http.Request) string { return keyOf(r) }
