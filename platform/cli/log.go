package cli

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// LogLevelEnv names the environment variable that sets every binary's log level.
const LogLevelEnv = "CASEBOOK_LOG_LEVEL"

// NewLogger builds a process's logger: structured text lines on w at the level named by
// level (debug, info, warn or error, as slog spells them; "" is info; "off" discards
// everything). Only main calls it, with os.Getenv(LogLevelEnv), and passes the logger
// down to every component that accepts one.
func NewLogger(level string, w io.Writer) (*slog.Logger, error) {
	if strings.EqualFold(level, "off") {
		return slog.New(slog.DiscardHandler), nil
	}
	lvl := slog.LevelInfo
	if level != "" {
		if err := lvl.UnmarshalText([]byte(level)); err != nil {
			return nil, fmt.Errorf("%w: %s=%q: want debug, info, warn, error or off", ErrUsage, LogLevelEnv, level)
		}
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl})), nil
}
