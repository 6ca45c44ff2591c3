package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/casebook-ml/casebook/platform/serving"
)

// sessionCookie holds a random session token, never the key: the key is read once at
// login, looked up by its hash, and forgotten.
const sessionCookie = "casebook_console"

// principal is who is asking: ok is false for an anonymous request.
type principal struct {
	Tenant string
	Admin  bool
	ok     bool
	// session is the session token the request came with ("" for a header key); a
	// confirmation token is bound to it.
	session string
	expires time.Time // of the session
}

// sessionTTL is how long a login lasts.
const sessionTTL = 12 * time.Hour

// LoggedIn reports whether the request carried a known key or session.
func (p principal) LoggedIn() bool { return p.ok }

// sessions maps session tokens to principals, for sessionTTL or until the process ends.
type sessions struct {
	mu      sync.Mutex
	byToken map[string]principal
}

func (s *sessions) add(p principal, now time.Time) string {
	tok := randomToken()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, old := range s.byToken { // drop the expired ones while here
		if now.After(old.expires) {
			delete(s.byToken, k)
		}
	}
	p.session, p.expires = tok, now.Add(sessionTTL)
	s.byToken[tok] = p
	return tok
}

func (s *sessions) get(tok string, now time.Time) (principal, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.byToken[tok]
	if ok && now.After(p.expires) {
		delete(s.byToken, tok)
		return principal{}, false
	}
	return p, ok
}

func (s *sessions) remove(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byToken, tok)
}

// NewKey returns a random 256-bit key, hex-encoded, for a console started without a keys
// file.
func NewKey() string { return randomToken() }

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// who authenticates r: a session cookie, else a key in Authorization or X-API-Key.
func (c *Console) who(r *http.Request) principal {
	if ck, err := r.Cookie(sessionCookie); err == nil && ck.Value != "" {
		if p, ok := c.sessions.get(ck.Value, c.cfg.Now()); ok {
			return p
		}
	}
	if tenant, admin, ok := c.keys.Lookup(serving.KeyOf(r)); ok {
		return principal{Tenant: tenant, Admin: admin, ok: true}
	}
	return principal{}
}

func (c *Console) loginForm(w http.ResponseWriter, r *http.Request, p principal) error {
	return c.show(w, "login", time.Now(), page{Title: "Log in", Who: p, Open: c.cfg.OpenRead, Data: safeNext(r.URL.Query().Get("next"))})
}

// login exchanges a key for a session cookie. A wrong key is a 401 with a message.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, errorf(http.StatusBadRequest, "unreadable form: %v", err))
		return
	}
	tenant, admin, ok := c.keys.Lookup(strings.TrimSpace(r.PostForm.Get("key")))
	if !ok {
		c.fail(w, r, errorf(http.StatusUnauthorized, "unknown key"))
		return
	}
	tok := c.sessions.add(principal{Tenant: tenant, Admin: admin, ok: true}, c.cfg.Now())
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		c.sessions.remove(ck.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps a redirect target on this console: a local path, never "//host".
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/models"
	}
	return next
}

// requireAdmin refuses a request without an admin key: 401 anonymous, 403 read-only.
func requireAdmin(p principal) error {
	if !p.ok {
		return errorf(http.StatusUnauthorized, "this action needs an admin key: log in first")
	}
	if !p.Admin {
		return errorf(http.StatusForbidden, "tenant %s holds a read-only key; promote and rollback need an admin key", p.Tenant)
	}
	return nil
}

// pendingAction is an admin action shown on a confirmation page and not yet done.
type pendingAction struct {
	Kind    string // "promote" or "rollback"
	Model   string
	Alias   string
	Version int
	tenant  string
	session string
	expires time.Time
}

// tokens are one-time confirmation tokens. A POST must bring a token issued to the same
// principal (and session) for the action it confirms; the token is spent whatever the
// outcome, so a replayed or forged form does nothing.
type tokens struct {
	mu      sync.Mutex
	pending map[string]pendingAction
}

func (t *tokens) issue(a pendingAction) string {
	tok := randomToken()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending[tok] = a
	return tok
}

// spend removes and returns the action tok confirms, if p may confirm it now.
func (t *tokens) spend(tok string, p principal, now time.Time) (pendingAction, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, a := range t.pending { // drop the expired ones while here
		if now.After(a.expires) {
			delete(t.pending, k)
		}
	}
	a, ok := t.pending[tok]
	if !ok {
		return pendingAction{}, false
	}
	delete(t.pending, tok)
	same := subtle.ConstantTimeCompare([]byte(a.session), []byte(p.session)) == 1 && a.tenant == p.Tenant
	return a, same
}
