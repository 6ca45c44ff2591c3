// Package onlinestore opens the online store a command line names: "memory" for the
// in-process store (the local default) or "redis://HOST:PORT" for Redis. Every binary's
// --store flag goes through it, so they all accept the same specs and say the same thing
// about a bad one.
package onlinestore

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/memory"
	fredis "github.com/casebook-ml/casebook/platform/features/redis"
)

// ErrSpec reports a store spec that is neither memory nor redis://HOST:PORT.
var ErrSpec = errors.New("onlinestore: bad store")

// Memory is the spec of the in-process store.
const Memory = "memory"

const redisScheme = "redis://"

// Check validates a spec without connecting to anything.
func Check(spec string) error {
	if spec == Memory {
		return nil
	}
	if addr, ok := strings.CutPrefix(spec, redisScheme); !ok || addr == "" || strings.ContainsAny(addr, "/ ") {
		return fmt.Errorf("%w %q: want %s or %sHOST:PORT", ErrSpec, spec, Memory, redisScheme)
	}
	return nil
}

// Open opens the store spec names, serving the views in reg, with the store's default
// configuration otherwise. logger receives the store's connection trouble (nil discards).
func Open(spec string, reg *features.Registry, logger *slog.Logger) (features.OnlineStore, error) {
	if err := Check(spec); err != nil {
		return nil, err
	}
	if spec == Memory {
		return memory.New(reg), nil
	}
	cfg := fredis.DefaultConfig()
	cfg.Addr, cfg.Logger = strings.TrimPrefix(spec, redisScheme), logger
	return fredis.New(cfg, reg)
}
