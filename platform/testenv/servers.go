package testenv

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
)

// retryInterval is the pause between client-side readiness attempts.
const retryInterval = 100 * time.Millisecond

// redisServer describes Redis: no persistence, bound to loopback in host mode.
func redisServer(cfg config) server {
	return server{
		name:  "redis",
		image: cfg.redisImage,
		port:  6379,
		args: func(hostPort int) []string {
			args := []string{"--save", "", "--appendonly", "no"}
			if hostPort == 0 {
				// Reached through a Docker port mapping, that is from outside the
				// container's loopback: Debian's binary (the local image) refuses
				// such clients in protected mode; the official image has it off.
				return append(args, "--protected-mode", "no")
			}
			return append([]string{"--port", strconv.Itoa(hostPort), "--bind", "127.0.0.1"}, args...)
		},
		readyLog: "Ready to accept connections",
		verify:   pingRedis,
	}
}

// natsServer describes NATS with JetStream storing under /tmp/js in the container.
func natsServer(cfg config) server {
	return server{
		name:  "nats",
		image: cfg.natsImage,
		port:  4222,
		args: func(hostPort int) []string {
			args := []string{"-js", "-sd", "/tmp/js"}
			if hostPort == 0 {
				return args
			}
			return append(args, "-p", strconv.Itoa(hostPort), "-a", "127.0.0.1")
		},
		readyLog: "Server is ready",
		verify:   pingJetStream,
	}
}

// pingRedis retries PING until Redis answers or ctx ends.
func pingRedis(ctx context.Context, addr string) error {
	rdb := redis.NewClient(&redis.Options{
		Addr:        addr,
		DialTimeout: 2 * time.Second,
		MaxRetries:  -1, // this loop retries
	})
	defer rdb.Close()
	return retry(ctx, func(ctx context.Context) error {
		return rdb.Ping(ctx).Err()
	})
}

// pingJetStream retries connecting and reading the JetStream account info until
// both work or ctx ends.
func pingJetStream(ctx context.Context, addr string) error {
	url := "nats://" + addr
	return retry(ctx, func(ctx context.Context) error {
		nc, err := nats.Connect(url, nats.Timeout(2*time.Second), nats.NoReconnect())
		if err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return fmt.Errorf("jetstream: %w", err)
		}
		if _, err := js.AccountInfo(ctx); err != nil {
			return fmt.Errorf("jetstream account info: %w", err)
		}
		return nil
	})
}

// retry calls f until it succeeds or ctx ends, returning f's last error.
func retry(ctx context.Context, f func(context.Context) error) error {
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(retryInterval):
		}
	}
}
