package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/casebook-ml/casebook/loadgen"
	"github.com/casebook-ml/casebook/loadgen/loadgentest"
	"github.com/casebook-ml/casebook/platform/cli/clitest"
)

// countingServer answers like the trivial server and counts what it received.
func countingServer(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	h := loadgentest.TrivialHandler()
	srv, err := loadgentest.Start("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h.ServeHTTP(w, r)
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.URL, &n
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	err := mainErr(context.Background(), args, &out, &errb)
	code = exitCode(err, &out, &errb)
	return code, out.String(), errb.String()
}

// TestBadInputFailsBeforeLoad: every bad command line is refused with a clear message and
// exit code 2 (1 for an unreachable target), and the server never sees a request.
func TestBadInputFailsBeforeLoad(t *testing.T) {
	url, received := countingServer(t)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantMsg  string
	}{
		{"unknown target scheme", []string{"run", "--target", "ftp://127.0.0.1/x", "--rate", "10", "--duration", "1s"}, 2, `scheme "ftp"`},
		{"unreachable endpoint", []string{"run", "--target", "http://127.0.0.1:1/x", "--rate", "10", "--duration", "1s"}, 1, "target unreachable"},
		{"unreachable nats", []string{"run", "--target", "nats://127.0.0.1:1", "--subject", "x", "--rate", "10", "--duration", "1s"}, 1, "target unreachable"},
		{"rate zero", []string{"run", "--target", url, "--rate", "0", "--duration", "1s"}, 2, "above zero"},
		{"rate negative", []string{"run", "--target", url, "--rate", "-5", "--duration", "1s"}, 2, "above zero"},
		{"no rate at all", []string{"run", "--target", url, "--duration", "1s"}, 2, "above zero"},
		{"bad SLO", []string{"run", "--target", url, "--rate", "10", "--duration", "1s", "--slo", "p99<soon"}, 2, "not a duration"},
		{"unknown SLO metric", []string{"run", "--target", url, "--rate", "10", "--duration", "1s", "--slo", "p42<1ms"}, 2, "unknown metric"},
		{"non-loopback host", []string{"run", "--target", "http://10.1.2.3:8080/x", "--rate", "10", "--duration", "1s"}, 2, "--allow-host 10.1.2.3"},
		{"non-loopback nats", []string{"run", "--target", "nats://nats.example.com:4222", "--subject", "x", "--rate", "10", "--duration", "1s"}, 2, "not a loopback"},
		{"no duration", []string{"run", "--target", url, "--rate", "10"}, 2, "--duration is required"},
		{"duration too long", []string{"run", "--target", url, "--rate", "10", "--duration", "2h"}, 2, "duration must be in"},
		{"no target", []string{"run", "--rate", "10", "--duration", "1s"}, 2, "--target is required"},
		{"bad schedule", []string{"run", "--target", url, "--schedule", "ramp:5", "--duration", "1s"}, 2, "ramp:FROM-TO"},
		{"bad workload", []string{"run", "--target", url, "--rate", "10", "--duration", "1s", "--workload", "oip:x"}, 2, "oip:FEATURES"},
		{"bad header", []string{"run", "--target", url, "--rate", "10", "--duration", "1s", "--header", "nocolon"}, 2, "Name: value"},
		{"zero request cap", []string{"run", "--target", url, "--rate", "10", "--duration", "1s", "--max-requests", "0"}, 2, "max requests"},
		{"closed loop with a rate", []string{"run", "--target", url, "--closed", "4", "--rate", "100", "--duration", "1s"}, 2, "--rate is for open loop"},
		{"negative users", []string{"run", "--target", url, "--closed", "-3", "--duration", "1s"}, 2, "positive number of users"},
		{"unknown flag", []string{"run", "--target", url, "--rate", "10", "--duration", "1s", "--turbo"}, 2, "turbo"},
		{"unknown command", []string{"blast"}, 2, `unknown command "blast"`},
		{"no command", nil, 2, "usage"},
		{"unknown scenario", []string{"scenario", "run", "loadgen/nope"}, 2, "unknown scenario"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(tc.args...)
			if code != tc.wantCode || !strings.Contains(stderr, tc.wantMsg) {
				t.Errorf("loadgen %s = exit %d, %q; want exit %d mentioning %q", strings.Join(tc.args, " "), code, stderr, tc.wantCode, tc.wantMsg)
			}
		})
	}
	if n := received.Load(); n != 0 {
		t.Errorf("server received %d requests from bad command lines, want 0", n)
	}
}

func TestRunWritesReportsAndEnforcesSLOs(t *testing.T) {
	url, received := countingServer(t)
	dir := t.TempDir()
	jsonPath, htmlPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
	code, stdout, stderr := runCLI("run", "--target", url+"/score", "--rate", "500", "--duration", "400ms",
		"--workload", "zipf:100", "--slo", "p99<5s", "--slo", "errors<0.1%", "--json", jsonPath, "--html", htmlPath, "--progress", "0")
	if code != 0 {
		t.Fatalf("run = exit %d (%s), want 0", code, stderr)
	}
	if n := received.Load(); n != 200 {
		t.Errorf("server received %d requests, want 200", n)
	}
	for _, w := range []string{"open loop", "SLO ok   p99<5s", "SLO ok   errors<0.1%"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("report lacks %q:\n%s", w, stdout)
		}
	}
	f, err := os.Open(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := loadgen.ReadJSON(f)
	if err != nil || rep.Sent != 200 || len(rep.SLOs) != 2 {
		t.Errorf("JSON report = %+v, %v; want 200 sent and 2 SLOs", rep, err)
	}
	if page, err := os.ReadFile(htmlPath); err != nil || !strings.Contains(string(page), "<svg") {
		t.Errorf("HTML report missing or without plots: %v", err)
	}

	code, stdout, stderr = runCLI("run", "--target", url, "--rate", "200", "--duration", "200ms", "--slo", "p50<1ns", "--progress", "0")
	if code != 1 || !strings.Contains(stderr, "SLO missed: p50<1ns") || !strings.Contains(stdout, "SLO MISS") {
		t.Errorf("run with an impossible SLO = exit %d, stderr %q; want exit 1 naming the missed SLO", code, stderr)
	}

	code, stdout, _ = runCLI("run", "--target", url, "--closed", "2", "--think", "5ms", "--duration", "200ms", "--progress", "0")
	if code != 0 || !strings.Contains(stdout, "CLOSED LOOP") || !strings.Contains(stdout, "uncorrected by construction") {
		t.Errorf("closed-loop run = exit %d:\n%s\nwant exit 0 and a report labelled closed loop", code, stdout)
	}
}

func TestScenarioList(t *testing.T) {
	code, stdout, _ := runCLI("scenario", "list")
	for _, name := range []string{"loadgen/coordinated-omission", "loadgen/open-vs-closed"} {
		if code != 0 || !strings.Contains(stdout, name) {
			t.Errorf("scenario list = exit %d, %q; want 0 listing %s", code, stdout, name)
		}
	}
}

func TestServeTrivial(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- serveTrivial(ctx, serveConfig{Addr: "127.0.0.1:0"}, pw); pw.Close() }()
	buf := make([]byte, 128)
	n, _ := pr.Read(buf)
	line := strings.TrimSpace(string(buf[:n]))
	addr, ok := strings.CutPrefix(line, "serving on ")
	if !ok {
		t.Fatalf("serve-trivial printed %q, want 'serving on URL'", line)
	}
	resp, err := http.Post(addr+"/anything", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"ok":true}` {
		t.Errorf("trivial server answered %d %q, want 200 {\"ok\":true}", resp.StatusCode, body)
	}
	cancel()
	go io.Copy(io.Discard, pr)
	if err := <-done; err != nil {
		t.Errorf("serveTrivial = %v, want nil after cancel", err)
	}
}

// TestHelp: every command answers -h, --help and help with its usage on stdout and exit
// code 0.
func TestHelp(t *testing.T) {
	clitest.CheckHelp(t, "loadgen", mainErr, []clitest.Help{
		{Args: []string{"--help"}, Want: "loadgen run"},
		{Args: []string{"-h"}, Want: "loadgen serve-trivial"},
		{Args: []string{"help"}, Want: "loadgen scenario"},
		{Args: []string{"run", "--help"}, Want: "-schedule"},
		{Args: []string{"run", "-h"}, Want: "latency from the intended send time"},
		{Args: []string{"serve-trivial", "--help"}, Want: "-addr"},
		{Args: []string{"scenario", "-h"}, Want: "scenario run NAME"},
	}, nil)
}
