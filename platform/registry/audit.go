package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// Audit actions.
const (
	ActionRegister     = "register"
	ActionPromote      = "promote"
	ActionForcePromote = "force-promote"
	ActionRollback     = "rollback"
	ActionRemoveAlias  = "remove-alias"
	// ActionRefuseLoad records a consumer (a serving instance) refusing to load the version
	// an alias moved to: From is what it kept serving, To the version it refused. It moves
	// nothing, so rollback and last-good lookups skip it.
	ActionRefuseLoad = "refuse-load"

	// ActionNote records a decision that moved no alias (a retraining requested, a
	// challenger the gates refused), so that the audit log tells the whole story.
	ActionNote = "note"

	// Administrative actions outside the registry's own state, recorded by the process that
	// took them (a server loading or unloading a model, reloading its API keys), so that
	// the one tamper-evident log answers "who did what, and why" for all of them.
	ActionServeLoad   = "serve-load"
	ActionServeUnload = "serve-unload"
	ActionKeysReload  = "keys-reload"

	// ActionArchive retires a version (To): no alias may be moved to it again. Versions are
	// immutable and artifacts content-addressed, so archiving is the registry's delete: the
	// record and the bytes stay for the audit, the version can never be served again.
	ActionArchive = "archive"
)

// MovesAlias reports whether the entry records an alias actually moving (not a
// registration, nor a refusal to follow a move).
func (e AuditEntry) MovesAlias() bool {
	switch e.Action {
	case ActionPromote, ActionForcePromote, ActionRollback, ActionRemoveAlias:
		return true
	}
	return false
}

// AuditEntry is one administrative action. Entries are numbered from 1 and chained: Hash is
// the sha256 of PrevHash and the entry's other fields, so editing or removing any entry
// breaks every hash after it (VerifyAudit finds where).
type AuditEntry struct {
	Seq    uint64 `json:"seq"`
	Time   string `json:"time"` // RFC 3339, UTC, nanoseconds: a string so the hash input is exact
	Actor  string `json:"actor"`
	Action string `json:"action"`
	Model  string `json:"model"`
	Alias  string `json:"alias,omitempty"`
	// From and To are version numbers (0: none).
	From   int          `json:"from"`
	To     int          `json:"to"`
	Reason string       `json:"reason,omitempty"`
	Gates  []GateResult `json:"gates,omitempty"`
	Forced bool         `json:"forced,omitempty"`

	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

func (e AuditEntry) computeHash() (string, error) {
	e.Hash = ""
	b, err := json.Marshal(e)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte("casebook/audit/v1\n"))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// EntryHash is the hash an entry's contents (and PrevHash) call for.
func EntryHash(e AuditEntry) string {
	h, _ := e.computeHash()
	return h
}

// appendAudit chains e after the current head and appends it, retrying when another
// writer takes the sequence number first.
func (r *Registry) appendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error) {
	for try := 0; try < r.cfg.MaxCreateRetries; try++ {
		all, err := r.store.Audit(ctx)
		if err != nil {
			return AuditEntry{}, err
		}
		e.Seq, e.PrevHash = 1, ""
		if n := len(all); n > 0 {
			e.Seq, e.PrevHash = all[n-1].Seq+1, all[n-1].Hash
		}
		e.Time = r.now().UTC().Format("2006-01-02T15:04:05.000000000Z")
		if e.Hash, err = e.computeHash(); err != nil {
			return AuditEntry{}, fmt.Errorf("hash audit entry: %w", err)
		}
		err = r.store.AppendAudit(ctx, e)
		if err == nil {
			return e, nil
		}
		if !errors.Is(err, ErrAuditConflict) {
			return AuditEntry{}, err
		}
	}
	return AuditEntry{}, fmt.Errorf("%w after %d tries", ErrAuditConflict, r.cfg.MaxCreateRetries)
}

// RecordRefusal appends an ActionRefuseLoad entry: actor, following model@alias, refused
// version wanted and kept serving version kept (0: nothing), for reason.
func (r *Registry) RecordRefusal(ctx context.Context, model, alias string, kept, wanted int, actor, reason string) (AuditEntry, error) {
	if actor == "" || reason == "" || wanted == 0 {
		return AuditEntry{}, fmt.Errorf("record refusal of %s@%s: %w: actor, reason and the refused version are required", model, alias, ErrInvalid)
	}
	e, err := r.appendAudit(ctx, AuditEntry{Actor: actor, Action: ActionRefuseLoad, Model: model, Alias: alias, From: kept, To: wanted, Reason: reason})
	if err != nil {
		return AuditEntry{}, fmt.Errorf("record refusal of %s@%s v%d: %w", model, alias, wanted, err)
	}
	return e, nil
}

// Note appends an entry that moves nothing: actor decided reason about model (version, 0
// for none). It carries no alias, so Rollback never takes it for a move.
func (r *Registry) Note(ctx context.Context, model, actor string, version int, reason string) (AuditEntry, error) {
	if !ValidName(model) || actor == "" || reason == "" {
		return AuditEntry{}, fmt.Errorf("note on %q: %w: a valid model, an actor and a reason are required", model, ErrInvalid)
	}
	e, err := r.appendAudit(ctx, AuditEntry{Actor: actor, Action: ActionNote, Model: model, To: version, Reason: reason})
	if err != nil {
		return AuditEntry{}, fmt.Errorf("note on %s: audit: %w", model, err)
	}
	return e, nil
}

// RecordAdmin appends an entry for an administrative action taken outside the registry
// (ActionServeLoad, ActionServeUnload, ActionKeysReload): actor did action on model ("" for
// none, as for a key reload) for reason. Both actor and reason are required: an entry that
// cannot say who and why is not worth the hash that protects it.
func (r *Registry) RecordAdmin(ctx context.Context, action, model, actor, reason string) (AuditEntry, error) {
	switch action {
	case ActionServeLoad, ActionServeUnload, ActionKeysReload:
	default:
		return AuditEntry{}, fmt.Errorf("record %q: %w: not an administrative action", action, ErrInvalid)
	}
	if (model != "" && !ValidName(model)) || actor == "" || reason == "" {
		return AuditEntry{}, fmt.Errorf("record %s: %w: an actor and a reason are required", action, ErrInvalid)
	}
	e, err := r.appendAudit(ctx, AuditEntry{Actor: actor, Action: action, Model: model, Reason: reason})
	if err != nil {
		return AuditEntry{}, fmt.Errorf("record %s: audit: %w", action, err)
	}
	return e, nil
}

// Audit returns the audit log, optionally only one model's entries ("" for all).
func (r *Registry) Audit(ctx context.Context, model string) ([]AuditEntry, error) {
	all, err := r.store.Audit(ctx)
	if err != nil {
		return nil, fmt.Errorf("read audit: %w", err)
	}
	if model == "" {
		return all, nil
	}
	var out []AuditEntry
	for _, e := range all {
		if e.Model == model {
			out = append(out, e)
		}
	}
	return out, nil
}

// VerifyAudit recomputes the hash chain and returns a *TamperError at the first entry that
// was edited, removed or reordered.
func (r *Registry) VerifyAudit(ctx context.Context) (int, error) {
	all, err := r.store.Audit(ctx)
	if err != nil {
		return 0, fmt.Errorf("read audit: %w", err)
	}
	return len(all), VerifyChain(all)
}

// VerifyChain checks a sequence of audit entries starting at entry 1.
func VerifyChain(all []AuditEntry) error {
	prev := ""
	for i, e := range all {
		if e.Seq != uint64(i+1) {
			return &TamperError{Seq: uint64(i + 1), Reason: fmt.Sprintf("entry %d is missing (found %d in its place)", i+1, e.Seq)}
		}
		if e.PrevHash != prev {
			return &TamperError{Seq: e.Seq, Reason: "prev_hash does not match the previous entry's hash"}
		}
		h, err := e.computeHash()
		if err != nil {
			return &TamperError{Seq: e.Seq, Reason: err.Error()}
		}
		if h != e.Hash {
			return &TamperError{Seq: e.Seq, Reason: "contents do not match the recorded hash (edited)"}
		}
		prev = e.Hash
	}
	return nil
}
