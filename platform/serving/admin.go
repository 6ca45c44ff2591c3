package serving

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/casebook-ml/casebook/platform/registry"
)

// HeaderAdminReason carries the reason of an admin action, as the body's "reason" does.
const HeaderAdminReason = "X-Casebook-Reason"

// AdminRequest is the body of the admin actions that take nothing else (load, unload,
// rollback, key reload): why. The reason goes into the registry's audit log with the
// tenant of the admin key that asked.
type AdminRequest struct {
	Reason string `json:"reason"`
}

// admin authenticates r as an admin (for model, "" for any) and reads the reason every
// admin action must give, from the JSON body or the X-Casebook-Reason header.
func (s *Server) admin(w http.ResponseWriter, r *http.Request, model string) (principal, string, bool) {
	p, err := s.auth.Load().check(r, model, true)
	if err != nil {
		s.writeError(w, statusOf(err), err)
		return principal{}, "", false
	}
	reason := strings.TrimSpace(r.Header.Get(HeaderAdminReason))
	if reason == "" {
		var req AdminRequest
		err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req)
		if err != nil && !errors.Is(err, io.EOF) {
			s.writeError(w, http.StatusBadRequest, fmt.Errorf("admin request: want {\"reason\": \"...\"}: %v", err))
			return principal{}, "", false
		}
		reason = strings.TrimSpace(req.Reason)
	}
	if reason == "" {
		s.writeError(w, http.StatusBadRequest, fmt.Errorf("an admin action needs a reason ({\"reason\": \"...\"} or %s): it goes into the audit log", HeaderAdminReason))
		return principal{}, "", false
	}
	return p, reason, true
}

// audit records an admin action before it is taken: an action the log cannot record is
// refused (503), so there is none without its entry.
func (s *Server) audit(ctx context.Context, w http.ResponseWriter, action, model string, p principal, reason string) (uint64, bool) {
	e, err := s.reg.RecordAdmin(ctx, action, model, "serving/"+p.tenant, reason)
	if err != nil {
		s.writeError(w, http.StatusServiceUnavailable, fmt.Errorf("not done: %w", err))
		return 0, false
	}
	return e.Seq, true
}

// reloadKeys is POST /v2/casebook/keys/reload: re-read the keys through Config.KeysSource
// and swap them in whole. The answer and the audit entry name the tenants and counts,
// never a key. A source that yields no key is refused: it would turn authentication off.
func (s *Server) reloadKeys(w http.ResponseWriter, r *http.Request) {
	p, reason, ok := s.admin(w, r, "")
	if !ok {
		return
	}
	if s.cfg.KeysSource == nil {
		s.writeError(w, http.StatusNotImplemented, errors.New("this server has no keys source to reload from (mlp serve --keys FILE has one)"))
		return
	}
	keys, err := s.cfg.KeysSource(r.Context())
	if err != nil {
		s.writeError(w, http.StatusUnprocessableEntity, fmt.Errorf("keys not reloaded: %w", err))
		return
	}
	if err := ValidateKeys(keys); err != nil {
		s.writeError(w, http.StatusUnprocessableEntity, fmt.Errorf("keys not reloaded: %w", err))
		return
	}
	next := newAuthenticator(keys)
	admins, tenants := 0, map[string]bool{}
	for _, k := range keys {
		tenants[k.Tenant] = true
		if k.Admin {
			admins++
		}
	}
	seq, ok := s.audit(r.Context(), w, registry.ActionKeysReload, "", p, fmt.Sprintf("%s (%d keys, %d admin, %d tenants)", reason, len(next.byHash), admins, len(tenants)))
	if !ok {
		return
	}
	s.auth.Store(next)
	s.log.Info("API keys reloaded", "tenant", p.tenant, "keys", len(next.byHash), "admin_keys", admins, "audit_seq", seq)
	s.writeJSON(w, http.StatusOK, map[string]any{"keys": len(next.byHash), "admin_keys": admins, "tenants": len(tenants), "audit_seq": seq})
}

// archiveVersion is DELETE /v2/casebook/models/{name}/versions/{version}: the registry
// archives the version (audited there, with the admin's tenant and reason); no alias may
// point to it again. A version an alias holds is a 409.
func (s *Server) archiveVersion(w http.ResponseWriter, r *http.Request) {
	vars := mux.Vars(r)
	p, reason, ok := s.admin(w, r, vars["name"])
	if !ok {
		return
	}
	n, err := strconv.Atoi(strings.TrimPrefix(vars["version"], "v"))
	if err != nil || n <= 0 {
		s.writeError(w, http.StatusBadRequest, fmt.Errorf("version %q: want a positive number", vars["version"]))
		return
	}
	e, err := s.reg.Archive(r.Context(), vars["name"], n, "serving/"+p.tenant, reason)
	switch {
	case errors.Is(err, registry.ErrVersionNotFound) || errors.Is(err, registry.ErrModelNotFound):
		s.writeError(w, http.StatusNotFound, err)
		return
	case err != nil:
		s.writeError(w, http.StatusConflict, err)
		return
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"model": vars["name"], "version": n, "archived": true, "audit_seq": e.Seq})
}

// ValidateKeys refuses a key set that would turn authentication off (no keys) or lock
// administration out (no admin key), and keys that are empty, short or have no tenant.
func ValidateKeys(keys []APIKey) error {
	if len(keys) == 0 {
		return errors.New("no keys: that would turn authentication off")
	}
	admin := false
	for i, k := range keys {
		if len(k.Key) < 16 || k.Tenant == "" {
			return fmt.Errorf("key %d (tenant %q): a key needs at least 16 characters and a tenant", i, k.Tenant)
		}
		admin = admin || k.Admin
	}
	if !admin {
		return errors.New("no admin key: nobody could administer the server afterwards")
	}
	return nil
}
