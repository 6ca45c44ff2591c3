package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/loadgen"
	"github.com/casebook-ml/casebook/loadgen/internal/adsload"
	"github.com/casebook-ml/casebook/loadgen/internal/fraudload"
	"github.com/casebook-ml/casebook/loadgen/internal/recsysload"
	"github.com/casebook-ml/casebook/loadgen/natstarget"
	"github.com/casebook-ml/casebook/platform/cli"
	"github.com/casebook-ml/casebook/platform/scenario"
)

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

const (
	runUsage   = "loadgen run --target URL --duration D [--rate R] [flags]\n  sends load on a schedule and prints a report (latency from the intended send time)"
	serveUsage = "loadgen serve-trivial [--addr 127.0.0.1:0] [--for D]\n  a do-nothing HTTP server, to measure the generator's floor"
)

// parseRun reads `loadgen run` flags into a runConfig. Everything that can be checked
// without the network is checked here, before any load starts.
func parseRun(args []string) (runConfig, error) {
	cfg := defaultRunConfig()
	fs := flag.NewFlagSet("loadgen run", flag.ContinueOnError)
	var (
		rate                        = fs.Float64("rate", 0, "requests per second (constant and poisson schedules)")
		schedule                    = fs.String("schedule", "constant", "constant | poisson | ramp:FROM-TO | steps:R1,R2,...@STEP | burst:BASE-PEAK@EVERY/LEN | diurnal:LOW-HIGH@PERIOD | replay:SPEEDUP (the fraud workload's event times, SPEEDUP times faster)")
		arrivals                    = fs.String("arrivals", "uniform", "uniform | poisson: how arrivals are spaced under the schedule's rate")
		closed                      = fs.Int("closed", 0, "run closed loop with N users instead of a schedule (latency is then uncorrected by construction)")
		body                        = fs.String("body", "", "request body, or @FILE; a template with {{key}} for zipf workloads")
		headers, slos, allow        listFlag
		maxReq                      = fs.Int64("max-requests", cfg.Engine.MaxRequests, "stop after this many requests")
		seed                        = fs.Uint64("seed", cfg.Engine.Seed, "seed for Poisson gaps and workload randomness")
		duration, think, timeout    time.Duration
		late, window, progressEvery time.Duration
		tick                        time.Duration
	)
	fs.StringVar(&cfg.Target, "target", "", "http://HOST:PORT/PATH or nats://HOST:PORT (required; loopback unless --allow-host); an HTTP path or query may hold {{key}}, replaced by each request's key")
	fs.DurationVar(&duration, "duration", 0, fmt.Sprintf("send window (required, at most %v)", loadgen.MaxDuration))
	fs.DurationVar(&think, "think", 0, "closed loop: pause between an answer and the user's next request")
	fs.IntVar(&cfg.Engine.Workers, "workers", cfg.Engine.Workers, "open loop: most requests in flight (connections); more wait in the generator and count as late")
	fs.StringVar(&cfg.Workload, "workload", "fixed", "fixed | zipf:ENTITIES[:EXPONENT] | oip:FEATURES | "+fraudload.SpecSyntax+" (NATS only; implies --nats-mode await --subject fraud.tx --await-subject fraud.decision.> --await-prefix decision- unless given) | "+recsysload.SpecSyntax+" (HTTP GET; --target is the recommender's base URL http://HOST:PORT, requests go to /v1/users/{{key}}/recommendations?k=K) | "+adsload.SpecSyntax+" (OpenRTB POST; --target is the bidder's base URL http://HOST:PORT, requests go to "+adsload.AuctionPath+", every answer is decoded and tallied)")
	fs.StringVar(&cfg.Method, "method", "", "HTTP method (default POST with a body, GET without)")
	fs.StringVar(&cfg.HTTPClient, "http-client", "lean", "lean (minimal HTTP/1.1 client, low overhead) | std (Go's net/http; always used for https)")
	fs.Var(&headers, "header", "HTTP header 'Name: value' (repeatable)")
	fs.StringVar(&cfg.NATSMode, "nats-mode", "publish", "NATS: publish (JetStream, timed to ack) | request (timed to reply) | await (JetStream publish, timed to the answer event on --await-subject)")
	fs.StringVar(&cfg.AwaitSubject, "await-subject", "", "NATS await: the subject answer events arrive on (required in await mode)")
	fs.StringVar(&cfg.AwaitPrefix, "await-prefix", "", "NATS await: strip this from an answer's Nats-Msg-Id to get the request id it answers, e.g. decision-")
	fs.StringVar(&cfg.NATSPublish, "nats-publish", cfg.NATSPublish, "NATS publish and await: async (JetStream async publish, wait for the ack future) | sync (one blocking publish per request); default async in await mode, sync in publish mode")
	fs.StringVar(&cfg.Subject, "subject", "", "NATS subject")
	fs.StringVar(&cfg.NATSStream, "nats-stream", "", "NATS publish: create this in-memory stream for the subject if none captures it")
	fs.Var(&slos, "slo", "threshold that fails the run, e.g. p99<50ms, errors<0.1%, rate>=99% (repeatable)")
	fs.StringVar(&cfg.JSONPath, "json", "", "also write the report as JSON to this file (- for stdout)")
	fs.StringVar(&cfg.HTMLPath, "html", "", "also write a self-contained HTML report with plots to this file")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a Go CPU profile of the generator to this file (what the generator itself costs)")
	fs.DurationVar(&timeout, "timeout", cfg.Engine.Timeout, "per-request timeout")
	fs.DurationVar(&late, "late", cfg.Engine.LateAfter, "a send this far behind its intended time counts as late")
	fs.DurationVar(&tick, "tick", cfg.Engine.Tick, "open loop: the pacer's shortest sleep; requests due within a tick leave together, up to a tick late (counted in corrected latency); 0 wakes once per request")
	fs.DurationVar(&window, "window", 0, "latency-over-time bucket (default duration/100, at least 100ms)")
	fs.DurationVar(&progressEvery, "progress", cfg.Engine.ProgressEvery, "progress line interval on stderr (0 to silence)")
	fs.Var(&allow, "allow-host", "permit this non-loopback target host (repeatable)")
	if err := cli.Parse(fs, runUsage, args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("%w: unexpected argument %q", scenario.ErrUsage, fs.Arg(0))
	}
	if cfg.Target == "" {
		return cfg, fmt.Errorf("%w: --target is required", scenario.ErrUsage)
	}
	if duration == 0 {
		return cfg, fmt.Errorf("%w: --duration is required (runs are always bounded; at most %v)", scenario.ErrUsage, loadgen.MaxDuration)
	}
	e := &cfg.Engine
	e.Duration, e.ThinkTime, e.Timeout, e.LateAfter, e.Window, e.ProgressEvery, e.Tick = duration, think, timeout, late, window, progressEvery, tick
	e.MaxRequests, e.Seed = *maxReq, *seed
	cfg.Headers, cfg.AllowHosts = headers, allow
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if fraudload.IsSpec(cfg.Workload) {
		// The fraud workload speaks the case study's contract: unless told otherwise, send
		// to its subjects and time each transaction to its decision.
		if !set["nats-mode"] {
			cfg.NATSMode = string(natstarget.Await)
		}
		if !set["subject"] {
			cfg.Subject = events.TxSubject
		}
		if !set["await-subject"] {
			cfg.AwaitSubject = events.DecisionSubjects
		}
		if !set["await-prefix"] {
			cfg.AwaitPrefix = events.DecisionID("")
		}
		// speedup=N in the spec is --schedule replay:N.
		if fc, err := fraudload.ParseSpec(cfg.Workload); err == nil && fc.Speedup > 0 {
			if set["schedule"] && *schedule != fmt.Sprintf("replay:%g", fc.Speedup) {
				return cfg, fmt.Errorf("%w: the fraud workload's speedup=%g asks for --schedule replay:%g; drop --schedule %s", scenario.ErrUsage, fc.Speedup, fc.Speedup, *schedule)
			}
			*schedule = fmt.Sprintf("replay:%g", fc.Speedup)
		}
	}
	if recsysload.IsSpec(cfg.Workload) && set["body"] {
		return cfg, fmt.Errorf("%w: the recsys workload sends GET requests without a body; drop --body", scenario.ErrUsage)
	}
	if adsload.IsSpec(cfg.Workload) {
		if set["body"] {
			return cfg, fmt.Errorf("%w: the ads workload builds its own OpenRTB bodies; drop --body", scenario.ErrUsage)
		}
		if set["http-client"] && cfg.HTTPClient != "std" {
			return cfg, fmt.Errorf("%w: the ads workload reads every answer with Go's net/http client (--http-client std); drop --http-client %s", scenario.ErrUsage, cfg.HTTPClient)
		}
	}
	if *closed != 0 {
		e.Mode, e.Users = loadgen.Closed, *closed
		if *closed < 0 {
			return cfg, fmt.Errorf("%w: --closed needs a positive number of users, got %d", scenario.ErrUsage, *closed)
		}
		for _, open := range []string{"rate", "schedule", "arrivals", "workers"} {
			if set[open] {
				return cfg, fmt.Errorf("%w: --%s is for open loop; --closed runs %d users that each wait for their answer (use --think to pace them)", scenario.ErrUsage, open, *closed)
			}
		}
	} else {
		poisson := false
		switch *arrivals {
		case "uniform":
		case "poisson":
			poisson = true
		default:
			return cfg, fmt.Errorf("%w: --arrivals %q (want uniform or poisson)", scenario.ErrUsage, *arrivals)
		}
		sch, err := loadgen.ParseSchedule(*schedule, *rate, duration, poisson)
		if err != nil {
			return cfg, err
		}
		e.Schedule = sch
	}
	cfg.Body = *body
	if path, ok := strings.CutPrefix(*body, "@"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("%w: --body %s: %v", scenario.ErrUsage, *body, err)
		}
		cfg.Body = string(b)
	}
	var err error
	if cfg.SLOs, err = loadgen.ParseSLOs(slos); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// parseServe reads `loadgen serve-trivial` flags.
func parseServe(args []string) (serveConfig, error) {
	cfg := defaultServeConfig()
	fs := flag.NewFlagSet("loadgen serve-trivial", flag.ContinueOnError)
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address")
	fs.DurationVar(&cfg.For, "for", 0, "stop after this long (0: until interrupted)")
	if err := cli.Parse(fs, serveUsage, args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("%w: unexpected argument %q", scenario.ErrUsage, fs.Arg(0))
	}
	return cfg, cfg.Validate()
}
