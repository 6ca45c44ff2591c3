package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/wait"
)

const (
	// readyTimeout bounds the wait for a started server's "ready" log line.
	readyTimeout = 60 * time.Second
	// verifyTimeout bounds the client-side check that follows the log line.
	verifyTimeout = 15 * time.Second
	// terminateTimeout bounds stopping and removing one container.
	terminateTimeout = 30 * time.Second
	// logTailLines is how much of a failed container's log goes into the error.
	logTailLines = 30
	// labelKey marks every container testenv starts, so leftovers can be found:
	// docker ps -a --filter label=casebook.testenv
	labelKey = "casebook.testenv"
)

// Container is one running server started by StartNATS or StartRedis.
type Container struct {
	tc     testcontainers.Container
	scheme string
	port   int // on 127.0.0.1, in both network modes
}

// Addr returns the server's address as host:port, for example "127.0.0.1:32768".
func (c *Container) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port))
}

// URL returns the server's address as a URL: nats://host:port or redis://host:port
// (tls://host:port and rediss://host:port for the servers of StartNATSTLS and StartRedisTLS).
func (c *Container) URL() string {
	return c.scheme + "://" + c.Addr()
}

// Terminate stops and removes the container.
func (c *Container) Terminate(ctx context.Context) error {
	if err := c.tc.Terminate(ctx); err != nil {
		return fmt.Errorf("terminate %s container: %w", c.scheme, err)
	}
	return nil
}

// server describes how to run one kind of server in a container.
type server struct {
	name  string // "redis" or "nats"; also the URL scheme
	image string
	// port is the server's listening port in bridge mode, where Docker maps it.
	port int
	// args returns the server arguments (never starting with the binary name, so
	// both the official images' docker-entrypoint.sh and the local images'
	// ENTRYPOINT of the binary itself accept them). hostPort is 0 in bridge mode.
	args     func(hostPort int) []string
	readyLog string
	// verify checks from Go that the server at addr answers.
	verify func(ctx context.Context, addr string) error
	// files are copied into the container before it starts (TLS certificates).
	files []testcontainers.ContainerFile
}

// StartRedis starts a Redis server in a container configured from the
// environment (see the package comment) and returns once it answers PING.
func StartRedis(ctx context.Context) (*Container, error) {
	cfg, err := configFromEnv(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("start redis: %w", err)
	}
	return startServer(ctx, cfg, redisServer(cfg))
}

// StartNATS starts a NATS server with JetStream in a container configured from
// the environment (see the package comment) and returns once JetStream answers.
func StartNATS(ctx context.Context) (*Container, error) {
	cfg, err := configFromEnv(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("start nats: %w", err)
	}
	return startServer(ctx, cfg, natsServer(cfg))
}

// startServer runs srv and waits until it is ready. On failure it removes the
// container and returns an error carrying the tail of the server's log.
func startServer(ctx context.Context, cfg config, srv server) (*Container, error) {
	containerPort := strconv.Itoa(srv.port) + "/tcp"
	opts := []testcontainers.ContainerCustomizer{
		// Lifecycle chatter stays out of test output; failures carry the log tail instead.
		testcontainers.WithLogger(tclog.NewNoopLogger()),
		testcontainers.WithLabels(map[string]string{labelKey: srv.name}),
		testcontainers.WithWaitStrategyAndDeadline(readyTimeout, wait.ForLog(srv.readyLog)),
	}
	hostPort := 0
	if cfg.network == networkHost {
		var err error
		if hostPort, err = freeLoopbackPort(); err != nil {
			return nil, fmt.Errorf("start %s: %w", srv.name, err)
		}
		opts = append(opts, testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.NetworkMode = "host"
		}))
	} else {
		// Publish on 127.0.0.1 only: a test server has no password, and tests
		// reach it on loopback anyway.
		opts = append(opts,
			testcontainers.WithExposedPorts(containerPort),
			testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
				hc.PortBindings = network.PortMap{
					network.MustParsePort(containerPort): {{HostIP: netip.AddrFrom4([4]byte{127, 0, 0, 1}), HostPort: "0"}},
				}
			}),
		)
	}
	opts = append(opts, testcontainers.WithCmd(srv.args(hostPort)...))
	if len(srv.files) > 0 {
		opts = append(opts, testcontainers.WithFiles(srv.files...))
	}

	tc, err := runContainer(ctx, cfg.network, srv.image, opts)
	if err != nil {
		err = fmt.Errorf("start %s container from image %q: %w%s%s", srv.name, srv.image, err, imageHint(srv.image), logTail(tc))
		return nil, errors.Join(err, terminate(tc))
	}
	c := &Container{tc: tc, scheme: srv.name, port: hostPort}
	if cfg.network == networkBridge {
		// The port is published on 127.0.0.1 (above). testcontainers-go's Host
		// is not asked: when the tests themselves run in a container it names
		// the bridge gateway, which is not where the port is published.
		p, err := tc.MappedPort(ctx, containerPort)
		if err != nil {
			err = fmt.Errorf("start %s: mapped port for %s: %w", srv.name, containerPort, err)
			return nil, errors.Join(err, terminate(tc))
		}
		c.port = int(p.Num())
	}
	vctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	if err := srv.verify(vctx, c.Addr()); err != nil {
		err = fmt.Errorf("start %s: server logged %q but does not answer at %s: %w%s", srv.name, srv.readyLog, c.Addr(), err, logTail(tc))
		return nil, errors.Join(err, terminate(tc))
	}
	return c, nil
}

// runContainer creates and starts a container. In bridge mode that is plain
// testcontainers.Run. In host mode it goes through a provider whose default
// network is "host": testcontainers.Run would otherwise attach the container to
// the engine's "bridge" network, and on an engine started with --bridge=none
// (offline CI) it creates a "reaper_default" bridge network for that, which a
// host-network container cannot join.
func runContainer(ctx context.Context, mode networkMode, image string, opts []testcontainers.ContainerCustomizer) (testcontainers.Container, error) {
	if mode != networkHost {
		tc, err := testcontainers.Run(ctx, image, opts...)
		if tc == nil {
			// A nil *DockerContainer must not become a non-nil interface.
			return nil, err
		}
		return tc, err
	}
	req := testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{Image: image},
		Started:          true,
	}
	for _, opt := range opts {
		if err := opt.Customize(&req); err != nil {
			return nil, fmt.Errorf("customize: %w", err)
		}
	}
	provider, err := testcontainers.NewDockerProvider(
		testcontainers.WithLogger(req.Logger),
		testcontainers.WithDefaultBridgeNetwork(string(networkHost)),
	)
	if err != nil {
		return nil, fmt.Errorf("docker provider: %w", err)
	}
	defer provider.Close()
	return provider.RunContainer(ctx, req.ContainerRequest)
}

// freeLoopbackPort asks the kernel for a free TCP port on 127.0.0.1. The port is
// released before the server binds it; another process could take it in between,
// in which case the server fails to start and says so in its log.
func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free 127.0.0.1 port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("pick a free 127.0.0.1 port: %w", err)
	}
	return port, nil
}

// terminate removes a container that failed to become ready; tc may be nil.
func terminate(tc testcontainers.Container) error {
	if tc == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), terminateTimeout)
	defer cancel()
	if err := tc.Terminate(ctx); err != nil {
		return fmt.Errorf("remove failed container: %w", err)
	}
	return nil
}

// imageHint points at deploy/images when a local image is missing.
func imageHint(image string) string {
	if strings.HasSuffix(image, ":local") {
		return " (local images are built by deploy/images/build.sh: make images)"
	}
	return ""
}

// logTail returns the last lines of the container's log, formatted for an error
// message, or "" when there is no container or no log.
func logTail(tc testcontainers.Container) string {
	if tc == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rc, err := tc.Logs(ctx)
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil && len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(bytes.ToValidUTF8(b, nil)), "\n"), "\n")
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return ""
	}
	return "\ncontainer log (last lines):\n  " + strings.Join(lines, "\n  ")
}
