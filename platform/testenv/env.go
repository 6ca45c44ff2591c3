package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

const (
	// probeTimeout bounds the question "does a Docker engine answer?", so a
	// socket that accepts but never replies cannot hang a test run.
	probeTimeout = 5 * time.Second
	// startTimeout bounds starting all of a package's containers, image pulls
	// on a laptop included.
	startTimeout = 5 * time.Minute
)

// Services says which servers a test package needs.
type Services struct{ NATS, Redis bool }

// Env is what TestMain started; tests ask it for addresses.
type Env struct {
	want   Services
	reason string // why the servers are unavailable; "" when they run
	nats   *Container
	redis  *Container
}

// Run is called from TestMain: os.Exit(testenv.Run(m, testenv.Services{NATS: true}, &env)).
// It starts the requested containers (one per package), runs m.Run(), always
// terminates them, and returns the exit code.
//
// If no Docker engine answers, it prints one line to stderr, marks the Env
// unavailable so that each integration test skips itself, and runs the tests
// anyway; with CI=true it prints the reason and returns 1 without running them.
// A container that fails to start while Docker answers is always a failure.
func Run(m *testing.M, want Services, env **Env) int {
	return run(context.Background(), m, want, env, runDeps{
		getenv: os.Getenv,
		stderr: os.Stderr,
		probe:  probeDocker,
	})
}

// runDeps is what run takes from the outside world, so tests can replace it.
type runDeps struct {
	getenv func(string) string
	stderr io.Writer
	probe  func(context.Context) error
}

// testRunner is the part of *testing.M that run uses.
type testRunner interface{ Run() int }

func run(ctx context.Context, m testRunner, want Services, env **Env, deps runDeps) (code int) {
	if env == nil {
		fmt.Fprintln(deps.stderr, "testenv: Run needs a non-nil **Env to fill in")
		return 1
	}
	cfg, err := configFromEnv(deps.getenv)
	if err != nil {
		fmt.Fprintf(deps.stderr, "testenv: %v\n", err)
		return 1
	}
	e := &Env{want: want}
	*env = e
	if !want.NATS && !want.Redis {
		return m.Run()
	}

	if err := deps.probe(ctx); err != nil {
		if cfg.ci {
			fmt.Fprintf(deps.stderr, "testenv: integration tests cannot run: no Docker engine answered (%v); CI=true, so this is a failure, not a skip\n", err)
			return 1
		}
		e.reason = fmt.Sprintf("no Docker engine answered (%v)", err)
		fmt.Fprintf(deps.stderr, "testenv: integration tests skipped: %s; set up Docker, see docs/testing.md\n", e.reason)
		return m.Run()
	}

	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	e.nats, e.redis, err = startServices(sctx, cfg, want)
	cancel()
	if err != nil {
		fmt.Fprintf(deps.stderr, "testenv: %v\n", err)
		return 1
	}
	defer func() {
		if err := e.terminate(); err != nil {
			fmt.Fprintf(deps.stderr, "testenv: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}()
	return m.Run()
}

// startServices starts the wanted servers side by side. If one fails, the
// others are removed again and the joined error is returned.
func startServices(ctx context.Context, cfg config, want Services) (nc, rc *Container, err error) {
	var wg sync.WaitGroup
	var natsErr, redisErr error
	if want.NATS {
		wg.Go(func() { nc, natsErr = startServer(ctx, cfg, natsServer(cfg)) })
	}
	if want.Redis {
		wg.Go(func() { rc, redisErr = startServer(ctx, cfg, redisServer(cfg)) })
	}
	wg.Wait()
	if err := errors.Join(natsErr, redisErr); err != nil {
		e := &Env{nats: nc, redis: rc}
		return nil, nil, errors.Join(err, e.terminate())
	}
	return nc, rc, nil
}

// terminate removes every container the Env holds.
func (e *Env) terminate() error {
	var errs []error
	for _, c := range []*Container{e.nats, e.redis} {
		if c == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), terminateTimeout)
		errs = append(errs, c.Terminate(ctx))
		cancel()
	}
	return errors.Join(errs...)
}

// Probe reports whether the Docker engine the integration tests would use answers, and why
// not. `make test` calls it (through platform/internal/dockercheck) to print, before any
// test runs, whether integration tests will run or be skipped: go test hides what a passing
// package printed, so the line from Run alone would be lost.
func Probe(ctx context.Context) error { return probeDocker(ctx) }

// probeDocker asks the Docker engine the tests would use whether it answers.
func probeDocker(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if host := os.Getenv("DOCKER_HOST"); host != "" {
		// testcontainers-go quietly falls back to /var/run/docker.sock when
		// DOCKER_HOST does not answer; a test run honours the engine the user
		// named instead, so ask that one directly.
		cli, err := client.New(client.FromEnv)
		if err != nil {
			return fmt.Errorf("DOCKER_HOST=%s: %w", host, err)
		}
		defer cli.Close()
		if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
			return fmt.Errorf("DOCKER_HOST=%s: %w", host, err)
		}
		return nil
	}
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return fmt.Errorf("DOCKER_HOST unset and testcontainers-go found no engine: %w", err)
	}
	defer cli.Close()
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// Available reports whether the requested servers are running, and the reason when not.
func (e *Env) Available() (bool, string) {
	if e == nil {
		return false, "testenv.Run was not called from TestMain"
	}
	return e.reason == "", e.reason
}

// NATSURL returns the NATS server's URL, nats://127.0.0.1:port. It skips the
// test when no Docker engine answered, and fails it when the package's TestMain
// did not ask Run for NATS.
func (e *Env) NATSURL(t testing.TB) string {
	t.Helper()
	c := e.service(t, "NATS", e != nil && e.want.NATS, func() *Container { return e.nats })
	return c.URL()
}

// RedisAddr returns the Redis server's address, 127.0.0.1:port. It skips the
// test when no Docker engine answered, and fails it when the package's TestMain
// did not ask Run for Redis.
func (e *Env) RedisAddr(t testing.TB) string {
	t.Helper()
	c := e.service(t, "Redis", e != nil && e.want.Redis, func() *Container { return e.redis })
	return c.Addr()
}

// service applies the rules shared by the address getters. A test that forgot
// to request a server fails even where it would otherwise skip: that is a bug
// in the test, not a property of the machine.
func (e *Env) service(t testing.TB, name string, wanted bool, get func() *Container) *Container {
	t.Helper()
	if e == nil {
		t.Fatalf("testenv: Env is nil; call testenv.Run(m, testenv.Services{%s: true}, &env) from TestMain", name)
	}
	if !wanted {
		t.Fatalf("testenv: %s was not requested; add %s: true to the Services passed to testenv.Run", name, name)
	}
	if e.reason != "" {
		t.Skipf("testenv: %s", e.reason)
	}
	c := get()
	if c == nil {
		t.Fatalf("testenv: %s is not running", name)
	}
	return c
}
