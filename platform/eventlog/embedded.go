package eventlog

import (
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedConfig configures an in-process NATS server.
type EmbeddedConfig struct {
	// Dir is where JetStream keeps its files. Empty means a new temporary directory that is
	// removed on Shutdown.
	Dir string
	// Port to listen on, on 127.0.0.1. Zero picks a free one.
	Port int
	// MaxPayload is the largest message the server accepts, in bytes. Zero keeps the server
	// default (1 MiB).
	MaxPayload int32
	// StartTimeout bounds how long to wait for the server to accept connections.
	StartTimeout time.Duration
}

// Embedded is a NATS server with JetStream running inside this process: the local default,
// so that `make demo` needs nothing but Go. It listens on loopback only.
type Embedded struct {
	srv     *server.Server
	dir     string
	tempDir bool
}

// StartEmbedded starts an in-process server and waits until it accepts connections.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	dir, temp := cfg.Dir, false
	if dir == "" {
		d, err := os.MkdirTemp("", "casebook-nats-*")
		if err != nil {
			return nil, fmt.Errorf("embedded nats: temp dir: %w", err)
		}
		dir, temp = d, true
	}
	port := cfg.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName: "casebook-embedded",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true,
		NoLog:      true,
		MaxPayload: cfg.MaxPayload,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		if temp {
			os.RemoveAll(dir)
		}
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go srv.Start()
	wait := cfg.StartTimeout
	if wait <= 0 {
		wait = 10 * time.Second
	}
	if !srv.ReadyForConnections(wait) {
		srv.Shutdown()
		if temp {
			os.RemoveAll(dir)
		}
		return nil, fmt.Errorf("embedded nats: not ready after %v", wait)
	}
	return &Embedded{srv: srv, dir: dir, tempDir: temp}, nil
}

// URL is the client URL of the embedded server.
func (e *Embedded) URL() string { return e.srv.ClientURL() }

// Dir is where the server keeps its JetStream files.
func (e *Embedded) Dir() string { return e.dir }

// Shutdown stops the server and removes its directory if it was temporary.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	if e.tempDir {
		os.RemoveAll(e.dir)
	}
}
