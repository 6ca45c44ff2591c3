package clitest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/cli"
)

// ChildEnv is set in the environment of a test binary that InFlightSurvivesSIGTERM runs
// again as the program itself: RunMainIfChild then calls the program's main.
const ChildEnv = "CASEBOOK_CLITEST_CHILD"

// RunMainIfChild calls main (which exits the process) when this test binary was started
// by InFlightSurvivesSIGTERM as the program, with the program's arguments after "--".
// A package's TestMain calls it first.
func RunMainIfChild(main func()) {
	if os.Getenv(ChildEnv) != "1" {
		return
	}
	for i, a := range os.Args {
		if a == "--" {
			os.Args = append([]string{os.Args[0]}, os.Args[i+1:]...)
			break
		}
	}
	main()
	os.Exit(0)
}

// Drain describes one HTTP server process and one request to hold in flight across its
// SIGTERM.
type Drain struct {
	Args []string // the program's arguments; its server must listen on 127.0.0.1:0
	Env  []string // added to the environment
	// Listening matches the stdout line that names the server's address; its first
	// submatch is HOST:PORT.
	Listening *regexp.Regexp
	// Health is the path that answers 2xx once the server is ready.
	Health string
	// Method, Path and Body are the request held in flight: its head and the first half
	// of its body go out before SIGTERM, the rest after the server stopped listening.
	Method, Path, ContentType string
	Body                      []byte
	// Check, if set, reads the answer's body.
	Check func(t *testing.T, body []byte)
}

// InFlightSurvivesSIGTERM runs this test binary again as the program (see RunMainIfChild),
// waits until it is ready, runs the program's `healthcheck --url` against it (exit 0), starts d's request and stops half-way through its body, sends
// SIGTERM, waits until the server refuses new connections (so shutdown has begun while
// the request is in flight), sends the rest of the body, and requires a 2xx answer to it
// and exit code 0. A server that stops by closing its connections, or that exits on the
// signal without waiting for them, fails. No step waits a fixed time: each waits for the
// event it needs (with an overall limit of a few minutes, for a hung process).
// Child is this test binary started again as the program (see RunMainIfChild).
type Child struct {
	cmd    *exec.Cmd
	exited chan error
	found  chan string
	mu     sync.Mutex
	out    strings.Builder
	stderr bytes.Buffer
	done   bool
	err    error
}

// StartChild starts the program with args and env added to the environment. Found
// receives the first submatch of the first stdout line that match matches. The child is
// killed when the test ends, if it is still running.
func StartChild(t *testing.T, args, env []string, match *regexp.Regexp) *Child {
	t.Helper()
	c := &Child{exited: make(chan error, 1), found: make(chan string, 1)}
	c.cmd = exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	c.cmd.Env = append(append(os.Environ(), ChildEnv+"=1"), env...)
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.Stderr = &lockedWriter{c}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.mu.Lock()
			c.out.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
			if m := match.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case c.found <- m[1]:
				default:
				}
			}
		}
		c.exited <- c.cmd.Wait()
	}()
	t.Cleanup(func() {
		if !c.done {
			c.cmd.Process.Kill()
			<-c.exited
		}
	})
	return c
}

type lockedWriter struct{ c *Child }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	return w.c.stderr.Write(b)
}

// Logs is what the child printed so far.
func (c *Child) Logs() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return "stdout:\n" + c.out.String() + "stderr:\n" + c.stderr.String()
}

// Found waits for the line StartChild's match names and returns its submatch; it fails
// the test if the child exits first or ctx ends.
func (c *Child) Found(ctx context.Context, t *testing.T) string {
	t.Helper()
	select {
	case s := <-c.found:
		return s
	case err := <-c.exited:
		c.done, c.err = true, err
		t.Fatalf("the program exited (%v) before printing the line looked for\n%s", err, c.Logs())
	case <-ctx.Done():
		t.Fatalf("the program did not print the line looked for\n%s", c.Logs())
	}
	return ""
}

// Signal sends sig to the child.
func (c *Child) Signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// Exit waits for the child to exit and returns its error (nil: exit code 0).
func (c *Child) Exit(ctx context.Context, t *testing.T) error {
	t.Helper()
	if c.done {
		return c.err
	}
	select {
	case err := <-c.exited:
		c.done, c.err = true, err
		return err
	case <-ctx.Done():
		t.Fatalf("the program did not exit\n%s", c.Logs())
	}
	return nil
}

func InFlightSurvivesSIGTERM(t *testing.T, d Drain) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	child := StartChild(t, d.Args, d.Env, d.Listening)
	logs := child.Logs
	addr := child.Found(ctx, t)
	for {
		err := cli.HealthCheck(ctx, "http://"+addr+d.Health, 5*time.Second)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%s never answered 2xx: %v\n%s", d.Health, err, logs())
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The program's own `healthcheck` command (its image's HEALTHCHECK) finds it healthy.
	hc := StartChild(t, []string{"healthcheck", "--url", "http://" + addr + d.Health}, nil, regexp.MustCompile(`^(ok)$`))
	if err := hc.Exit(ctx, t); err != nil {
		t.Fatalf("healthcheck --url http://%s%s on the running server: %v\n%s", addr, d.Health, err, hc.Logs())
	}

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	half := len(d.Body) / 2
	head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", d.Method, d.Path, addr, d.ContentType, len(d.Body))
	if _, err := conn.Write(append([]byte(head), d.Body[:half]...)); err != nil {
		t.Fatal(err)
	}
	// The server has the request once it is active; a second request on another
	// connection that is answered proves the first connection was accepted and read.
	if err := cli.HealthCheck(ctx, "http://"+addr+d.Health, 5*time.Second); err != nil {
		t.Fatalf("health before SIGTERM: %v", err)
	}
	child.Signal(t, syscall.SIGTERM)
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break // the listener is closed: shutdown has begun
		}
		c.Close()
		if ctx.Err() != nil {
			t.Fatalf("the server still accepts connections after SIGTERM\n%s", logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := conn.Write(d.Body[half:]); err != nil {
		t.Fatalf("finishing the request after SIGTERM: %v\n%s", err, logs())
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the request in flight at SIGTERM got no answer: %v\n%s", err, logs())
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode/100 != 2 {
		t.Fatalf("the request in flight at SIGTERM: %s %q (read error %v), want 2xx\n%s", resp.Status, body, err, logs())
	}
	if d.Check != nil {
		d.Check(t, body)
	}
	if err := child.Exit(ctx, t); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want code 0\n%s", err, logs())
	}
}
