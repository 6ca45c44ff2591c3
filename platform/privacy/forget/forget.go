// Package forget erases a data subject (the right to be forgotten): its rows leave the
// offline store, in every partition version, and its keys leave the online store, for every
// feature view of a PII entity; then the registry's audit log records that it happened, who
// asked and how much went, naming the subject only by a hash of its token and never carrying
// a feature value.
package forget

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/registry"
)

// ErrInvalid reports a request that cannot be carried out as given.
var ErrInvalid = errors.New("forget: invalid request")

// Auditor records the erasure; *registry.Registry is one.
type Auditor interface {
	Note(ctx context.Context, model, actor string, version int, reason string) (registry.AuditEntry, error)
}

// Request names the subject and who asks.
type Request struct {
	// Entity is the entity the subject is ("customer"); every view of it marked PII in the
	// feature registry is erased.
	Entity string
	// Subjects are the subject's entity keys as stored: its tokens, one per key version
	// still in the stores (pii.Tokenizer.Candidates gives them all).
	Subjects []string
	// Actor is who carried it out; Ticket the request it answers (no personal data in it).
	Actor, Ticket string
	// Model is the registry model whose audit log records the erasure: the model trained
	// on these views.
	Model string
}

// Result is what was erased, counts only.
type Result struct {
	// SubjectHash is the first 16 hex digits of sha256 of the first subject key: enough to
	// match the audit entry against a token someone holds, useless to recover it.
	SubjectHash string
	Views       []string
	Offline     features.EraseStats
	Online      int // keys deleted from the online store
	Audit       registry.AuditEntry
}

// SubjectHash is how the audit log names a subject key.
func SubjectHash(key string) string {
	s := sha256.Sum256([]byte(key))
	return hex.EncodeToString(s[:8])
}

// Subject erases req's subject from off and online (either may be nil: not deployed) and
// writes the audit entry. A failure part way leaves the stores partly erased and no audit
// entry; the call is idempotent, so the remedy is to run it again.
func Subject(ctx context.Context, req Request, reg *features.Registry, off *features.OfflineStore, online features.OnlineStore, audit Auditor) (Result, error) {
	var res Result
	if req.Entity == "" || len(req.Subjects) == 0 || req.Actor == "" || req.Ticket == "" || req.Model == "" || audit == nil {
		return res, fmt.Errorf("%w: an entity, at least one subject key, an actor, a ticket, a model and an auditor are required", ErrInvalid)
	}
	for i, s := range req.Subjects {
		if s == "" {
			return res, fmt.Errorf("%w: subject key %d is empty", ErrInvalid, i)
		}
	}
	res.Views = reg.PIIViews(req.Entity)
	if len(res.Views) == 0 {
		return res, fmt.Errorf("%w: no feature view of entity %q is marked PII", ErrInvalid, req.Entity)
	}
	res.SubjectHash = SubjectHash(req.Subjects[0])
	reason := "erasure " + req.Ticket + " subject sha256:" + res.SubjectHash
	for _, v := range res.Views {
		if off != nil {
			st, err := off.Forget(ctx, v, req.Subjects, reason)
			if err != nil {
				return res, fmt.Errorf("forget %s in the offline store: %w", v, err)
			}
			res.Offline.Rows += st.Rows
			res.Offline.Partitions += st.Partitions
			res.Offline.Files += st.Files
		}
		if online != nil {
			n, err := online.Delete(ctx, v, req.Subjects)
			if err != nil {
				return res, fmt.Errorf("forget %s in the online store: %w", v, err)
			}
			res.Online += n
		}
	}
	note := fmt.Sprintf("forget: %s; entity %s, subject sha256:%s (%d key versions); views %s; offline %d rows in %d partitions, %d files deleted; online %d keys deleted",
		req.Ticket, req.Entity, res.SubjectHash, len(req.Subjects), strings.Join(res.Views, ","), res.Offline.Rows, res.Offline.Partitions, res.Offline.Files, res.Online)
	e, err := audit.Note(ctx, req.Model, req.Actor, 0, note)
	if err != nil {
		return res, fmt.Errorf("forget: erased, but the audit entry failed: %w", err)
	}
	res.Audit = e
	return res, nil
}
