package console

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
	"github.com/casebook-ml/casebook/platform/registry/natskv"
	"github.com/casebook-ml/casebook/platform/seal"
)

// Stores says where the console reads, as mlp console's --dir and --nats and
// $CASEBOOK_NATS_URL choose it. mlp console and the integration test against a real NATS
// server both open the console's registry and event log through OpenStores, so the test
// exercises the command's wiring rather than a copy of it.
type Stores struct {
	// NATSURL, when set, is the server that holds both the registry (its KV and Object
	// Store buckets) and the event log, as on the compose stack (mlp console --nats URL).
	NATSURL string
	// Dir is the filesystem registry used when NATSURL is empty.
	Dir string
	// LogURL is the event log's server when NATSURL is empty ($CASEBOOK_NATS_URL); with
	// both empty the event log is eventlog.DefaultConfig's embedded server.
	LogURL string
	// Keyring seals newly registered artifacts at rest (nil: in the clear).
	Keyring *seal.Keyring
	Logger  *slog.Logger
}

// OpenStores opens the registry and the event log Stores names. With NATSURL set, one
// connection serves both. The returned function releases what was opened.
func OpenStores(ctx context.Context, s Stores) (*registry.Registry, *eventlog.Log, func(), error) {
	rc := registry.DefaultConfig()
	rc.Logger, rc.Keyring = s.Logger, s.Keyring
	lc := eventlog.DefaultConfig()
	lc.Logger = s.Logger
	switch {
	case s.NATSURL != "":
		lc.URL = s.NATSURL
	case s.LogURL != "":
		lc.URL = s.LogURL
	}
	l, err := eventlog.Open(ctx, lc)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("event log: %w", err)
	}
	var st registry.Store
	if s.NATSURL != "" {
		st, err = natskv.Open(ctx, l.JetStream(), natskv.DefaultConfig())
	} else {
		fc := regfs.DefaultConfig()
		fc.Dir, fc.Logger = s.Dir, s.Logger
		st, err = regfs.Open(fc)
	}
	if err != nil {
		l.Close()
		return nil, nil, nil, fmt.Errorf("registry: %w", err)
	}
	reg, err := registry.New(st, rc)
	if err != nil {
		l.Close()
		return nil, nil, nil, fmt.Errorf("registry: %w", err)
	}
	return reg, l, func() { l.Close() }, nil
}
