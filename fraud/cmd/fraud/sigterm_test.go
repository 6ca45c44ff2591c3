package main

import (
	"context"
	"os"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/internal/stream"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/cli"
	"github.com/casebook-ml/casebook/platform/cli/clitest"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/privacy/pii"
	"github.com/casebook-ml/casebook/platform/testenv"
)

// env holds the NATS container the process test runs against: a server that outlives the
// `fraud stream` processes it kills. A child started by clitest (ChildEnv) runs the fraud
// command instead of the tests.
var env *testenv.Env

func TestMain(m *testing.M) {
	clitest.RunMainIfChild(main)
	os.Exit(testenv.Run(m, testenv.Services{NATS: true}, &env))
}

// TestStreamDrainsOnSIGTERM: `fraud stream` stopped by SIGTERM while transactions are
// arriving exits 0, and what it did is exactly what it acked: the transactions with a
// decision in the log are the stream's sequences 1..ack floor, each once. A scorer that
// exited without acking what it decided (or acked what it had not decided) fails.
func TestStreamDrainsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the stream's model in a child process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	lc := eventlog.DefaultConfig()
	lc.URL = eventlog.EmbeddedURL
	lc.Embedded.Dir = t.TempDir()
	log, err := eventlog.Open(ctx, lc)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()

	const key = "v1:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	simArgs := []string{"--customers", "300", "--terminals", "600", "--days", "75", "--start", "60"}
	child := clitest.StartChild(t, append([]string{"stream", "--nats", log.URL(), "--store", "memory", "--metrics", "127.0.0.1:0",
		"--progress", "0", "--prediction-log=false", "--batch", "64", "--max-ack-pending", "256"}, simArgs...),
		[]string{"CASEBOOK_LOG_LEVEL=warn", pii.EnvKey + "=" + key}, regexp.MustCompile(`^metrics: http://(\S+)/metrics`))
	// /healthz is served once the model is trained and the features warm: ready. The
	// binary's own healthcheck command (its image's HEALTHCHECK) must agree.
	health := "http://" + child.Found(ctx, t) + "/healthz"
	for cli.HealthCheck(ctx, health, 5*time.Second) != nil {
		if ctx.Err() != nil {
			t.Fatalf("%s never answered\n%s", health, child.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	hc := clitest.StartChild(t, []string{"healthcheck", "--url", health}, nil, regexp.MustCompile(`^(ok)$`))
	if err := hc.Exit(ctx, t); err != nil {
		t.Fatalf("fraud healthcheck --url %s: %v\n%s", health, err, hc.Logs())
	}

	// The live days' transactions, as the load generator publishes them.
	scfg := sim.DefaultConfig()
	scfg.Customers, scfg.Terminals, scfg.Days = 300, 600, 75
	d, err := sim.Generate(ctx, scfg)
	if err != nil {
		t.Fatal(err)
	}
	k, err := pii.ParseKey(key)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := pii.New(k)
	if err != nil {
		t.Fatal(err)
	}
	var evs []eventlog.Event
	for _, tx := range events.Tokenize(tok, d.Transactions) {
		if tx.Day < 60 {
			continue
		}
		ev, err := events.TxEvent(tx)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	if len(evs) < 2000 {
		t.Fatalf("%d live transactions; want a few thousand", len(evs))
	}
	// Publish in chunks and stop the scorer once it has decided some: the rest arrive
	// while it stops, so it is stopped mid-stream.
	signalled := false
	for i := 0; i < len(evs); i += 500 {
		if _, err := log.PublishBatch(ctx, evs[i:min(i+500, len(evs))]); err != nil {
			t.Fatal(err)
		}
		if signalled {
			continue
		}
		st, err := log.ConsumerState(ctx, events.TxStream, stream.DefaultDurable)
		if err == nil && st.AckFloor > 0 {
			child.Signal(t, syscall.SIGTERM)
			signalled = true
		}
	}
	if !signalled {
		// The scorer decided nothing while everything was published: stop it now.
		for {
			st, err := log.ConsumerState(ctx, events.TxStream, stream.DefaultDurable)
			if err == nil && st.AckFloor > 0 {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("the scorer decided nothing\n%s", child.Logs())
			}
			time.Sleep(20 * time.Millisecond)
		}
		child.Signal(t, syscall.SIGTERM)
	}
	if err := child.Exit(ctx, t); err != nil {
		t.Fatalf("fraud stream after SIGTERM: %v, want exit 0\n%s", err, child.Logs())
	}

	st, err := log.ConsumerState(ctx, events.TxStream, stream.DefaultDurable)
	if err != nil {
		t.Fatal(err)
	}
	decided := map[uint64]int{}
	_, err = log.Replay(ctx, events.DecisionStream, eventlog.FromBeginning(), nil, func(_ context.Context, m *eventlog.Message) error {
		seq, err := strconv.ParseUint(m.Header[stream.HeaderTxSeq], 10, 64)
		if err != nil {
			t.Errorf("decision %s: header %s: %v", m.ID, stream.HeaderTxSeq, err)
		}
		decided[seq]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= st.AckFloor; seq++ {
		if decided[seq] != 1 {
			t.Errorf("transaction at sequence %d is acked and has %d decisions, want 1", seq, decided[seq])
		}
	}
	for seq := range decided {
		if seq > st.AckFloor {
			t.Errorf("transaction at sequence %d has a decision but is not acked (ack floor %d): a restart would decide it again", seq, st.AckFloor)
		}
	}
	t.Logf("published %d, decided and acked %d before exiting", len(evs), st.AckFloor)
}
