package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/loadgen"
	"github.com/casebook-ml/casebook/loadgen/httptarget"
	"github.com/casebook-ml/casebook/loadgen/internal/adsload"
	"github.com/casebook-ml/casebook/loadgen/internal/fraudload"
	"github.com/casebook-ml/casebook/loadgen/internal/recsysload"
	"github.com/casebook-ml/casebook/loadgen/natstarget"
	"github.com/casebook-ml/casebook/platform/cputime"
	"github.com/casebook-ml/casebook/platform/privacy/pii"
)

// runConfig is everything `loadgen run` was asked to do.
type runConfig struct {
	Engine     loadgen.Config
	Target     string
	AllowHosts []string
	Workload   string
	Body       string
	Method     string
	HTTPClient string
	Headers    []string
	NATSMode   string
	Subject    string
	NATSStream string
	// AwaitSubject and AwaitPrefix configure await mode (natstarget.Config).
	AwaitSubject string
	AwaitPrefix  string
	// NATSPublish is async, sync, or empty for the mode's default.
	NATSPublish string
	SLOs        []loadgen.SLO
	JSONPath    string
	HTMLPath    string
	// CPUProfile, when set, receives a Go CPU profile of the generator during the run, to
	// see what the generator itself costs.
	CPUProfile string
}

func defaultRunConfig() runConfig {
	return runConfig{Engine: loadgen.DefaultConfig(), Workload: "fixed", HTTPClient: "lean", NATSMode: string(natstarget.Publish)}
}

// Validate checks what can be checked without the network: the engine configuration, the
// target's scheme and host, the workload.
func (c runConfig) Validate() error {
	e := c.Engine
	if speedup, pending := e.Schedule.TracePending(); pending {
		// A replay gets its times from the workload when it is built (runLoad).
		if !fraudload.IsSpec(c.Workload) {
			return fmt.Errorf("%w: --schedule replay needs a workload with event times (--workload fraud), got %q", loadgen.ErrInvalidConfig, c.Workload)
		}
		e.Schedule = loadgen.Schedule{Profile: loadgen.Constant{PerSecond: speedup}} // checks everything else
	}
	if err := e.Validate(); err != nil {
		return err
	}
	if fraudload.IsSpec(c.Workload) {
		if _, err := fraudload.ParseSpec(c.Workload); err != nil {
			return err
		}
		if u, err := url.Parse(c.Target); err == nil && u.Scheme != "nats" && u.Scheme != "tls" {
			return fmt.Errorf("%w: the fraud workload publishes events to NATS; --target must be nats://HOST:PORT, got %q", loadgen.ErrInvalidConfig, c.Target)
		}
	} else if adsload.IsSpec(c.Workload) {
		// Parsed, not built: building the pool takes a fraction of a second, once is enough.
		if _, err := adsload.ParseSpec(c.Workload); err != nil {
			return err
		}
		if _, err := adsload.TargetURL(c.Target); err != nil {
			return err
		}
	} else if _, err := c.workload(context.Background(), io.Discard); err != nil {
		return err
	}
	if recsysload.IsSpec(c.Workload) {
		rc, _ := recsysload.ParseSpec(c.Workload) // parsed by c.workload above
		if _, err := rc.TargetURL(c.Target); err != nil {
			return err
		}
	}
	_, err := c.targetConfig()
	return err
}

// workload builds the workload. The fraud workload simulates first (seconds for the default
// size) and says so on progress.
func (c runConfig) workload(ctx context.Context, progress io.Writer) (loadgen.Workload, error) {
	if recsysload.IsSpec(c.Workload) {
		rc, err := recsysload.ParseSpec(c.Workload)
		if err != nil {
			return nil, err
		}
		return recsysload.New(rc)
	}
	if adsload.IsSpec(c.Workload) {
		ac, err := adsload.ParseSpec(c.Workload)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(progress, "loadgen: building the ads world and a pool of %d bid requests...\n", ac.Pool)
		return adsload.New(ac)
	}
	if !fraudload.IsSpec(c.Workload) {
		return loadgen.ParseWorkload(c.Workload, c.Body)
	}
	fc, err := fraudload.ParseSpec(c.Workload)
	if err != nil {
		return nil, err
	}
	// Customer ids are tokenized before publishing, under the key the scorer uses: the
	// environment's, or the published demo key that `fraud stream` uses on the local default.
	if fc.Tokenizer, err = pii.FromEnv(os.Getenv); err != nil {
		return nil, err
	}
	if fc.Tokenizer == nil {
		fc.Tokenizer = pii.Demo()
	}
	fmt.Fprintf(progress, "loadgen: PII: %s\n", fc.Tokenizer.Policy("customer ids"))
	if fc.CSV != "" {
		fmt.Fprintf(progress, "loadgen: reading the fraud workload from %s...\n", fc.CSV)
	} else {
		fmt.Fprintf(progress, "loadgen: simulating the fraud workload (%d customers, %d terminals, %d days)...\n", fc.Customers, fc.Terminals, fc.Days)
	}
	w, err := fraudload.New(ctx, fc)
	if err != nil {
		return nil, err
	}
	if _, replay := c.Engine.Schedule.TracePending(); replay {
		return w, nil // a replay sends at most every event
	}
	if need := c.requestsNeeded(); need > int64(w.Len()) {
		return nil, fmt.Errorf("%w: this run would send %d requests but the fraud workload holds %d events (%s); lower --rate or --duration, set --max-requests, or simulate more (days=, customers=)",
			loadgen.ErrBadWorkload, need, w.Len(), w)
	}
	return w, nil
}

// requestsNeeded is the most requests the run can send: in open loop, the schedule's
// arrivals in the send window (drawn exactly as the engine will draw them), capped by
// --max-requests; in closed loop, --max-requests.
func (c runConfig) requestsNeeded() int64 {
	e := c.Engine
	if e.Mode == loadgen.Closed {
		return e.MaxRequests
	}
	arr := e.Schedule.Arrivals(e.Duration, e.Seed)
	var n int64
	for n < e.MaxRequests {
		if _, ok := arr.Next(); !ok {
			break
		}
		n++
	}
	return n
}

// targetConfig returns an httptarget.Config or a natstarget.Config for the target address.
func (c runConfig) targetConfig() (any, error) {
	// Only the scheme matters here; an HTTP URL template is checked by httptarget.
	u, err := url.Parse(strings.ReplaceAll(c.Target, httptarget.KeyPlaceholder, "0"))
	if err != nil {
		return nil, fmt.Errorf("%w: --target %q: %v", loadgen.ErrInvalidConfig, c.Target, err)
	}
	conns := c.Engine.Workers
	if c.Engine.Mode == loadgen.Closed {
		conns = c.Engine.Users
	}
	switch u.Scheme {
	case "http", "https":
		hc := httptarget.DefaultConfig()
		hc.URL, hc.Method, hc.MaxConns, hc.AllowHosts, hc.Client = c.Target, c.Method, conns, c.AllowHosts, c.HTTPClient
		if recsysload.IsSpec(c.Workload) {
			// --target is the recommender's base URL; each request asks about its user.
			rc, err := recsysload.ParseSpec(c.Workload)
			if err != nil {
				return nil, err
			}
			if hc.URL, err = rc.TargetURL(c.Target); err != nil {
				return nil, err
			}
		}
		if adsload.IsSpec(c.Workload) {
			// --target is the bidder's base URL; every request goes to its auction endpoint.
			if hc.URL, err = adsload.TargetURL(c.Target); err != nil {
				return nil, err
			}
		}
		hc.Header = http.Header{}
		for _, h := range c.Headers {
			k, v, ok := strings.Cut(h, ":")
			if !ok || strings.TrimSpace(k) == "" {
				return nil, fmt.Errorf("%w: --header %q: want 'Name: value'", loadgen.ErrInvalidConfig, h)
			}
			hc.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
		return hc, hc.Validate()
	case "nats", "tls":
		nc := natstarget.DefaultConfig()
		nc.URL, nc.Mode, nc.Subject, nc.Stream, nc.AllowHosts = c.Target, natstarget.Mode(c.NATSMode), c.Subject, c.NATSStream, c.AllowHosts
		nc.AwaitSubject, nc.AwaitPrefix = c.AwaitSubject, c.AwaitPrefix
		switch c.NATSPublish {
		case "":
			nc.AsyncPublish = nc.Mode == natstarget.Await
		case "async":
			nc.AsyncPublish = true
		case "sync":
			nc.AsyncPublish = false
		default:
			return nil, fmt.Errorf("%w: --nats-publish %q (want async or sync)", loadgen.ErrInvalidConfig, c.NATSPublish)
		}
		if fraudload.IsSpec(c.Workload) && nc.Subject != events.LabelSubject {
			// Chargebacks go to their own subject; the stream must capture it too.
			nc.ExtraSubjects = []string{events.LabelSubject}
		}
		if nc.Mode == natstarget.Await && c.AwaitSubject == "" {
			return nil, fmt.Errorf("%w: --nats-mode await needs --await-subject (where the answer events arrive)", loadgen.ErrInvalidConfig)
		}
		return nc, nc.Validate()
	default:
		return nil, fmt.Errorf("%w: %q: scheme %q (want http, https or nats)", loadgen.ErrUnknownTarget, c.Target, u.Scheme)
	}
}

// newTarget connects to the target; an unreachable one fails here, before any load. The
// ads workload gets its own HTTP target, which reads and checks every answer against wl.
func newTarget(ctx context.Context, c runConfig, wl loadgen.Workload) (loadgen.Target, error) {
	tc, err := c.targetConfig()
	if err != nil {
		return nil, err
	}
	switch tc := tc.(type) {
	case httptarget.Config:
		if aw, ok := wl.(*adsload.Workload); ok {
			return adsload.NewTarget(ctx, tc, aw)
		}
		return httptarget.New(ctx, tc)
	case natstarget.Config:
		return natstarget.New(ctx, tc)
	}
	return nil, fmt.Errorf("%w: %q", loadgen.ErrUnknownTarget, c.Target)
}

// runLoad runs one load test: the text report goes to stdout, progress to stderr.
func runLoad(ctx context.Context, cfg runConfig, stdout, stderr io.Writer) error {
	wl, err := cfg.workload(ctx, stderr)
	if err != nil {
		return err
	}
	if speedup, pending := cfg.Engine.Schedule.TracePending(); pending {
		fw, ok := wl.(*fraudload.Workload)
		if !ok {
			return fmt.Errorf("%w: --schedule replay needs a workload with event times (--workload fraud)", loadgen.ErrInvalidConfig)
		}
		cfg.Engine.Schedule = loadgen.Schedule{Profile: loadgen.Trace{At: fw.Offsets(speedup), Speedup: speedup,
			Of: "the fraud workload's event times"}}
	}
	tg, err := newTarget(ctx, cfg, wl)
	if err != nil {
		return err
	}
	defer tg.Close()
	eng, err := loadgen.New(cfg.Engine, tg, wl, stderr)
	if err != nil {
		return err
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
	}
	cpu0 := cputime.Process()
	cpuOK := cpu0 > 0 // 0: not measured on this system
	rep, runErr := eng.Run(ctx)
	cpu1 := cputime.Process()
	if cfg.CPUProfile != "" {
		pprof.StopCPUProfile()
	}
	if rep == nil {
		return fmt.Errorf("run: %w", runErr)
	}
	if cpuOK {
		// The run only: building the workload (a simulation, for fraud) is not the load's cost.
		rep.SetGeneratorCPU(cpu1 - cpu0)
	}
	sloErr := rep.CheckSLOs(cfg.SLOs)
	if err := rep.WriteText(stdout); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if cfg.JSONPath != "" {
		if err := writeFile(cfg.JSONPath, stdout, rep.WriteJSON); err != nil {
			return err
		}
	}
	if cfg.HTMLPath != "" {
		if err := writeFile(cfg.HTMLPath, stdout, rep.WriteHTML); err != nil {
			return err
		}
	}
	return errors.Join(runErr, sloErr)
}

func writeFile(path string, stdout io.Writer, write func(io.Writer) error) error {
	if path == "-" {
		return write(stdout)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write report %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	return nil
}
