package registry

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Stores return the first five; the Registry wraps them with context.
var (
	ErrModelNotFound    = errors.New("model not found")
	ErrVersionNotFound  = errors.New("version not found")
	ErrVersionExists    = errors.New("version already exists")
	ErrArtifactNotFound = errors.New("artifact not found")
	ErrAuditConflict    = errors.New("audit sequence number already taken")

	ErrAliasNotFound     = errors.New("alias not set")
	ErrDanglingAlias     = errors.New("alias points to a version that does not exist")
	ErrArtifactCorrupt   = errors.New("artifact does not match its sha256")
	ErrGateFailed        = errors.New("promotion refused by validation gates")
	ErrForceNeedsReason  = errors.New("a forced promotion needs a reason")
	ErrAuditTampered     = errors.New("audit log hash chain is broken")
	ErrInvalid           = errors.New("invalid registry request")
	ErrNothingToRollBack = errors.New("no earlier alias position to roll back to")
	ErrNoChange          = errors.New("alias already points to that version")
	// ErrArchived means the version was archived: no alias may point to it again.
	ErrArchived = errors.New("version is archived")
	// ErrAliasHolds means an alias still points to the version an action would retire.
	ErrAliasHolds = errors.New("an alias still points to that version")
)

// ArtifactError is a corrupt or missing artifact, refused on load.
type ArtifactError struct {
	Model   string
	Version int
	Want    string
	Got     string // "" when the artifact is missing
	Err     error
}

func (e *ArtifactError) Error() string {
	if e.Got == "" {
		return fmt.Sprintf("load %s v%d: artifact sha256:%s: %v", e.Model, e.Version, short(e.Want), e.Err)
	}
	return fmt.Sprintf("load %s v%d: %v: stored bytes hash to sha256:%s, version records sha256:%s", e.Model, e.Version, e.Err, short(e.Got), short(e.Want))
}

func (e *ArtifactError) Unwrap() error { return e.Err }

// GateError lists the gates a promotion failed, each with its margin.
type GateError struct {
	Model   string
	Alias   string
	Version int
	Results []GateResult
}

func (e *GateError) Error() string {
	var failed []string
	for _, r := range e.Results {
		if !r.Passed && !r.Skipped {
			failed = append(failed, r.Gate+": "+r.Detail)
		}
	}
	return fmt.Sprintf("promote %s v%d to %q: %v: %s", e.Model, e.Version, e.Alias, ErrGateFailed, strings.Join(failed, "; "))
}

func (e *GateError) Unwrap() error { return ErrGateFailed }

// FloorError lists the floors a registration missed; nothing was stored.
type FloorError struct {
	Model   string
	Results []GateResult
}

func (e *FloorError) Error() string {
	var failed []string
	for _, r := range e.Results {
		if !r.Passed {
			failed = append(failed, r.Gate+": "+r.Detail)
		}
	}
	return fmt.Sprintf("register %s: refused by its floors (%v): %s", e.Model, ErrGateFailed, strings.Join(failed, "; "))
}

func (e *FloorError) Unwrap() error { return ErrGateFailed }

// TamperError locates the first audit entry whose hash chain does not verify.
type TamperError struct {
	Seq    uint64
	Reason string
}

func (e *TamperError) Error() string {
	return fmt.Sprintf("%v at entry %d: %s", ErrAuditTampered, e.Seq, e.Reason)
}

func (e *TamperError) Unwrap() error { return ErrAuditTampered }

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}
