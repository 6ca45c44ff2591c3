package console

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/casebook-ml/casebook/platform/registry"
)

type confirmData struct {
	Action  pendingAction
	Token   string
	Holder  int // the alias's current version (0: unset)
	Gates   []registry.GateResult
	Passed  bool
	Target  int // rollback: where the alias goes back to
	Problem string
}

// confirmPromote shows what promoting would do (the gates' verdicts) and a form with a
// one-time token; nothing moves until that form is posted.
func (c *Console) confirmPromote(w http.ResponseWriter, r *http.Request, p principal) error {
	start := time.Now()
	if err := requireAdmin(p); err != nil {
		return err
	}
	ctx := r.Context()
	name, _, err := c.model(ctx, r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	alias := strings.TrimSpace(q.Get("alias"))
	if !registry.ValidName(alias) {
		return errorf(http.StatusBadRequest, "alias %q: want a name of letters, digits, '-' or '_'", alias)
	}
	n, err := strconv.Atoi(q.Get("version"))
	if err != nil || n < 1 {
		return errorf(http.StatusBadRequest, "version %q: want a positive number", q.Get("version"))
	}
	if _, err := c.reg.Resolve(ctx, name, strconv.Itoa(n)); err != nil {
		return err
	}
	d := confirmData{Action: pendingAction{Kind: "promote", Model: name, Alias: alias, Version: n}}
	if h, err := c.reg.Resolve(ctx, name, alias); err == nil {
		d.Holder = h.Number
	}
	if d.Holder == n {
		return errorf(http.StatusConflict, "%s@%s already points to v%d", name, alias, n)
	}
	d.Gates, d.Passed, err = c.reg.CheckGates(ctx, name, alias, n, registry.DefaultGates())
	if err != nil {
		return err
	}
	d.Token = c.issue(d.Action, p)
	return c.show(w, "confirm", start, page{Title: fmt.Sprintf("Promote %s v%d to %s?", name, n, alias), Nav: "confirm", Who: p, Open: c.cfg.OpenRead, Data: d})
}

// confirmRollback shows where the alias would go back to, with a one-time token.
func (c *Console) confirmRollback(w http.ResponseWriter, r *http.Request, p principal) error {
	start := time.Now()
	if err := requireAdmin(p); err != nil {
		return err
	}
	ctx := r.Context()
	name, _, err := c.model(ctx, r)
	if err != nil {
		return err
	}
	alias := strings.TrimSpace(r.URL.Query().Get("alias"))
	if !registry.ValidName(alias) {
		return errorf(http.StatusBadRequest, "alias %q: want a name of letters, digits, '-' or '_'", alias)
	}
	al, err := c.reg.Aliases(ctx, name)
	if err != nil {
		return err
	}
	cur, ok := al[alias]
	if !ok {
		return errorf(http.StatusNotFound, "%s has no alias %q", name, alias)
	}
	audit, err := c.reg.Audit(ctx, name)
	if err != nil {
		return err
	}
	d := confirmData{Action: pendingAction{Kind: "rollback", Model: name, Alias: alias, Version: cur}, Holder: cur}
	for i := len(audit) - 1; i >= 0; i-- { // the registry's own rule, to say where it goes
		e := audit[i]
		if e.Alias == alias && e.To == cur && e.MovesAlias() && e.Action != registry.ActionRollback {
			d.Target = e.From
			break
		}
	}
	if d.Target == 0 {
		return errorf(http.StatusConflict, "%s@%s (v%d): %v", name, alias, cur, registry.ErrNothingToRollBack)
	}
	d.Token = c.issue(d.Action, p)
	return c.show(w, "confirm", start, page{Title: fmt.Sprintf("Roll %s@%s back to v%d?", name, alias, d.Target), Nav: "confirm", Who: p, Open: c.cfg.OpenRead, Data: d})
}

func (c *Console) issue(a pendingAction, p principal) string {
	a.tenant, a.session, a.expires = p.Tenant, p.session, c.cfg.Now().Add(c.cfg.TokenTTL)
	return c.tokens.issue(a)
}

// doAction performs a confirmed action. The token must have been issued to this
// principal; the actor in the audit log is "console:" and the key's tenant.
func (c *Console) doAction(w http.ResponseWriter, r *http.Request, p principal) error {
	start := time.Now()
	if err := requireAdmin(p); err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return errorf(http.StatusBadRequest, "unreadable form: %v", err)
	}
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	if reason == "" { // checked before the token is spent, so the form can be sent again
		return errorf(http.StatusBadRequest, "an admin action needs a reason: it goes into the audit log with your tenant")
	}
	a, ok := c.tokens.spend(r.PostForm.Get("token"), p, c.cfg.Now())
	if !ok {
		return errorf(http.StatusForbidden, "this confirmation is unknown, already used, expired or was issued to someone else: start the action again from the model's page")
	}
	actor := "console:" + p.Tenant
	ctx := r.Context()
	var move registry.Move
	var err error
	switch a.Kind {
	case "promote":
		move, err = c.reg.Promote(ctx, registry.PromoteRequest{Model: a.Model, Alias: a.Alias, Version: a.Version, Actor: actor, Reason: reason, Gates: registry.DefaultGates()})
	case "rollback":
		move, err = c.reg.Rollback(ctx, a.Model, a.Alias, actor, reason)
	default:
		return errorf(http.StatusBadRequest, "unknown action %q", a.Kind)
	}
	var ge *registry.GateError
	if errors.As(err, &ge) {
		return errorf(http.StatusConflict, "the gates refused: %v", err)
	}
	if err != nil {
		return err
	}
	c.log.Info("admin action", "action", a.Kind, "model", a.Model, "alias", a.Alias, "actor", actor, "audit_seq", move.Audit.Seq)
	return c.show(w, "done", start, page{Title: "Done: " + a.Kind + " " + a.Model + "@" + a.Alias, Nav: "done", Who: p, Open: c.cfg.OpenRead, Data: move})
}
