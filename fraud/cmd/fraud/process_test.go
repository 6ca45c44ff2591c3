package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/internal/decision"
	"github.com/casebook-ml/casebook/fraud/internal/stream"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/cli/clitest"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/privacy/pii"
)

// fraudProcess is one `fraud stream` child.
type fraudProcess struct {
	cmd     *exec.Cmd
	mu      sync.Mutex
	out     bytes.Buffer
	ready   chan string // the "scoring:" address, once "ready" is printed
	exited  chan error
	stderr  bytes.Buffer
	scoring string
}

func startStream(t *testing.T, args ...string) *fraudProcess {
	t.Helper()
	p := &fraudProcess{ready: make(chan string, 1), exited: make(chan error, 1)}
	p.cmd = exec.Command(os.Args[0], append([]string{"-test.run=^$", "--", "stream"}, args...)...)
	p.cmd.Env = append(os.Environ(), clitest.ChildEnv+"=1", "CASEBOOK_LOG_LEVEL=warn")
	p.cmd.Stderr = &p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.out.WriteString(line + "\n")
			p.mu.Unlock()
			if addr, ok := strings.CutPrefix(line, "scoring: POST "); ok {
				p.scoring = addr
			}
			if strings.HasPrefix(line, "ready:") {
				p.ready <- p.scoring
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		p.exited <- p.cmd.Wait()
	}()
	select {
	case addr := <-p.ready:
		p.scoring = addr
	case err := <-p.exited:
		t.Fatalf("fraud stream exited before ready (%v):\n%s\n%s", err, p.output(), p.stderr.String())
	case <-time.After(5 * time.Minute):
		p.kill()
		t.Fatalf("fraud stream not ready after 5 minutes:\n%s", p.output())
	}
	return p
}

func (p *fraudProcess) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// kill sends SIGKILL: no deferred call, no flush, no ack on the way out.
func (p *fraudProcess) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// `fraud stream` as a separate process, against a NATS server that outlives it: killed
// with SIGKILL in the middle of the stream, restarted, fed the rest (some of it over its
// HTTP endpoint, and producer retries after the transaction stream's duplicates window,
// before and after the kill): every transaction has exactly one decision in the log.
func TestStreamProcessKilledDecidesEachTransactionOnce(t *testing.T) {
	url := env.NATSURL(t)
	ctx := context.Background()
	const key = "v1:00112233445566778899aabbccddeeff"
	t.Setenv(pii.EnvKey, key) // the children inherit it
	tok, err := pii.FromEnv(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	sc := sim.DefaultConfig()
	sc.Customers, sc.Terminals, sc.Days = 300, 600, 50
	const start = 40
	args := []string{"--nats", url, "--store", "memory", "--metrics", "", "--progress", "0", "--prediction-log=false",
		"--tx-duplicates", "100ms", "--decision-retention", "24h", "--batch", "64", "--max-ack-pending", "256",
		"--customers", fmt.Sprint(sc.Customers), "--terminals", fmt.Sprint(sc.Terminals), "--days", fmt.Sprint(sc.Days),
		"--start", fmt.Sprint(start), "--label-delay", "72h", "--http", "127.0.0.1:0", "--http-timeout", "60s"}

	// What a producer would publish from day 40 on: the same simulation, customer ids
	// tokenized under the same key.
	d, err := sim.Generate(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	all, err := events.Replay(events.Tokenize(tok, d.Transactions), 72*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	raw := map[string]sim.Transaction{}
	for _, tx := range d.Transactions {
		raw[events.TxID(tx.ID)] = tx
	}
	var live []eventlog.Event
	for i, ev := range all {
		if ev.Subject == events.TxSubject && raw[ev.ID].Day >= start {
			live = all[i:]
			break
		}
	}
	ntx := 0
	for _, ev := range live {
		if ev.Subject == events.TxSubject {
			ntx++
		}
	}

	lc := eventlog.DefaultConfig()
	lc.URL = url
	log, err := eventlog.Open(ctx, lc)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	decided := func() uint64 {
		st, err := log.Stream(ctx, events.DecisionStream)
		if err != nil {
			return 0
		}
		return st.Messages
	}
	publish := func(evs []eventlog.Event) {
		for lo := 0; lo < len(evs); lo += 50 {
			if _, err := log.PublishBatch(ctx, evs[lo:min(lo+50, len(evs))]); err != nil {
				t.Error(err)
				return
			}
		}
	}
	// republish publishes evs again until the log stores each a second time.
	republish := func(evs []eventlog.Event) int {
		for left, deadline := evs, time.Now().Add(time.Minute); len(left) > 0; {
			if time.Now().After(deadline) {
				t.Fatalf("%d retries still deduplicated after a minute", len(left))
			}
			time.Sleep(150 * time.Millisecond)
			acks, err := log.PublishBatch(ctx, left)
			if err != nil {
				t.Fatal(err)
			}
			var again []eventlog.Event
			for i, a := range acks {
				if a.Duplicate {
					again = append(again, left[i])
				}
			}
			left = again
		}
		return len(evs)
	}
	everyNth := func(evs []eventlog.Event, n int) (out []eventlog.Event) {
		for i := 0; i < len(evs); i += n {
			out = append(out, evs[i])
		}
		return out
	}

	first := startStream(t, args...)
	cut := 6 * len(live) / 10
	published := make(chan struct{})
	go func() { defer close(published); publish(live[:cut]) }()
	// Kill it once it has decided a fifth of what it is being sent, while the rest arrives.
	waitFor(t, "a fifth of the first part decided", func() (bool, uint64) {
		n := decided()
		return n >= uint64(ntx/5), n
	})
	first.kill()
	atKill := decided()
	<-published
	retries := republish(everyNth(live[:cut], 11)) // retries while it is down

	second := startStream(t, args...)
	defer func() {
		_ = second.cmd.Process.Signal(syscall.SIGTERM)
		if err := <-second.exited; err != nil {
			t.Errorf("fraud stream after SIGTERM: %v\n%s", err, second.stderr.String())
		}
	}()
	if !strings.Contains(second.output(), "resuming:") {
		t.Errorf("the restarted process did not say it resumes:\n%s", second.output())
	}
	// The rest: the first 40 transactions over HTTP, one at a time, the others published.
	rest := live[cut:]
	viaHTTP := 0
	for len(rest) > 0 && viaHTTP < 40 {
		ev := rest[0]
		rest = rest[1:]
		if ev.Subject != events.TxSubject {
			publish([]eventlog.Event{ev})
			continue
		}
		tx := raw[ev.ID]
		body, _ := json.Marshal(map[string]any{"transaction_id": tx.ID, "tx_datetime": tx.Time.Format(time.RFC3339Nano),
			"customer_id": tx.Customer, "terminal_id": tx.Terminal, "tx_amount": tx.Amount})
		resp, err := http.Post(second.scoring, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var res stream.ScoreResponse
		err = json.NewDecoder(resp.Body).Decode(&res)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil || res.Decision.TransactionID != tx.ID {
			t.Fatalf("POST transaction %d: %d %+v (%v)", tx.ID, resp.StatusCode, res, err)
		}
		viaHTTP++
	}
	publish(rest)
	retries += republish(everyNth(live, 13)) // retries after the restart, of both parts
	waitFor(t, "the restarted process to catch up", func() (bool, uint64) {
		st, err := log.ConsumerState(ctx, events.TxStream, stream.DefaultDurable)
		if err != nil {
			return false, 0
		}
		return st.Caught(), st.AckFloor
	})

	byTx := map[int64]int{}
	if _, err := log.Replay(ctx, events.DecisionStream, eventlog.FromBeginning(), nil, func(_ context.Context, m *eventlog.Message) error {
		var d decision.Decision
		if err := json.Unmarshal(m.Data, &d); err != nil {
			return err
		}
		byTx[d.TransactionID]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, ev := range live {
		if ev.Subject != events.TxSubject {
			continue
		}
		if n := byTx[raw[ev.ID].ID]; n != 1 {
			t.Errorf("transaction %s has %d decisions, want 1", ev.ID, n)
		}
	}
	if len(byTx) != ntx {
		t.Errorf("%d transactions decided, want %d", len(byTx), ntx)
	}
	t.Logf("%d live transactions (%d events); killed after %d decisions with %d published; %d retries after the window; %d scored over HTTP",
		ntx, len(live), atKill, cut, retries, viaHTTP)
}

// waitFor polls cond until it holds, failing after two minutes in which its progress
// value did not move (no timing is asserted: only that progress does not stop).
func waitFor(t *testing.T, what string, cond func() (bool, uint64)) {
	t.Helper()
	var best uint64
	for last := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		ok, p := cond()
		if ok {
			return
		}
		if p > best {
			best, last = p, time.Now()
		}
		if time.Since(last) > 2*time.Minute {
			t.Fatalf("waiting for %s: no progress for 2 minutes (at %d)", what, best)
		}
	}
}
