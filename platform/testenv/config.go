package testenv

import (
	"fmt"
	"strconv"
	"strings"
)

// Environment variables read by testenv; doc.go and docs/testing.md describe them.
const (
	envRedisImage = "CASEBOOK_REDIS_IMAGE"
	envNATSImage  = "CASEBOOK_NATS_IMAGE"
	envNetwork    = "CASEBOOK_TEST_NETWORK"
	envCI         = "CI"
)

const (
	defaultRedisImage = "redis:7-alpine"
	defaultNATSImage  = "nats:2-alpine"
)

// networkMode says how a test reaches the containers.
type networkMode string

const (
	// networkBridge lets Docker map the server's fixed port to a host port.
	networkBridge networkMode = "bridge"
	// networkHost runs the container in the host's network namespace, with the
	// server bound to a free 127.0.0.1 port chosen by testenv.
	networkHost networkMode = "host"
)

// config is everything testenv reads from the environment.
type config struct {
	redisImage string
	natsImage  string
	network    networkMode
	ci         bool
}

// configFromEnv reads the configuration through getenv (os.Getenv outside tests).
func configFromEnv(getenv func(string) string) (config, error) {
	cfg := config{
		redisImage: defaultRedisImage,
		natsImage:  defaultNATSImage,
		network:    networkBridge,
	}
	if v := strings.TrimSpace(getenv(envRedisImage)); v != "" {
		cfg.redisImage = v
	}
	if v := strings.TrimSpace(getenv(envNATSImage)); v != "" {
		cfg.natsImage = v
	}
	switch v := networkMode(strings.ToLower(strings.TrimSpace(getenv(envNetwork)))); v {
	case "":
	case networkBridge, networkHost:
		cfg.network = v
	default:
		return config{}, fmt.Errorf("%s=%q: want %q or %q", envNetwork, string(v), networkBridge, networkHost)
	}
	if v := strings.TrimSpace(getenv(envCI)); v != "" {
		// CI systems set CI=true; anything that does not parse as a boolean is
		// treated as set too, so a CI machine errs towards failing, not skipping.
		ci, err := strconv.ParseBool(v)
		cfg.ci = ci || err != nil
	}
	return cfg, nil
}
