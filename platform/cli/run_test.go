package cli

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
)

// blocker is a part that runs until its context ends and records that it was stopped.
func blocker(stopped chan<- struct{}) Part {
	return func(ctx context.Context) error {
		<-ctx.Done()
		close(stopped)
		return ctx.Err()
	}
}

func TestRunFailingPartStopsTheOthers(t *testing.T) {
	boom := errors.New("boom")
	stopped := make(chan struct{})
	err := Run(context.Background(), blocker(stopped), func(context.Context) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want %v", err, boom)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("Run returned before the other part stopped")
	}
}

func TestRunCancelIsClean(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	a, b := make(chan struct{}), make(chan struct{})
	started := make(chan struct{})
	go func() { <-started; cancel() }()
	err := Run(ctx, blocker(a), blocker(b), func(ctx context.Context) error { close(started); <-ctx.Done(); return nil })
	if err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
}

func TestRunShutdownErrorIsKept(t *testing.T) {
	// A part ends cleanly; another fails while stopping: that failure is the result.
	flush := errors.New("flush failed")
	err := Run(context.Background(),
		func(context.Context) error { return nil },
		func(ctx context.Context) error { <-ctx.Done(); return flush })
	if !errors.Is(err, flush) {
		t.Fatalf("Run = %v, want %v", err, flush)
	}
}

// TestRunMetricsServerFails is `fraud stream`'s shape: a metrics server beside a consumer
// that would run for ever. The server fails (its listener is closed under it), so the
// process must stop with the server's error rather than run on without its metrics, as it
// did when the error of Serve was dropped.
func TestRunMetricsServerFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	stopped := make(chan struct{})
	err = Run(context.Background(), Serve(NewServer(http.NotFoundHandler()), ln), blocker(stopped))
	if !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Run = %v, want the server's error (use of a closed listener)", err)
	}
	<-stopped
}
