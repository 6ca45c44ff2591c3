package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/casebook-ml/casebook/platform/cli"
	"github.com/casebook-ml/casebook/platform/console"
	"github.com/casebook-ml/casebook/platform/console/consoletest"
	"github.com/casebook-ml/casebook/platform/internal/walkthrough"
	"github.com/casebook-ml/casebook/platform/scenario"
	"github.com/casebook-ml/casebook/platform/serving"
)

const consoleUsage = `mlp console [--dir DIR | --nats URL] [--addr 127.0.0.1:8090] [--keys FILE]
          [--serving URL,...] [--reports DIR] [--demo]
  Serves the web console: models and versions (aliases, lineage, gates, artifact hashes,
  the audit chain and its verification), model cards, serving (each --serving URL's
  /metrics), monitoring (drift per feature over time, data quality, online quality,
  alerts, from the event log), scenarios (run one and watch it), and loadgen JSON reports
  in --reports. The registry is --dir ($CASEBOOK_REGISTRY_DIR, .casebook/registry) or the
  one on the --nats server; the event log is the --nats server, else $CASEBOOK_NATS_URL,
  else an embedded one (empty unless --demo fills it).
  Keys: --keys reads mlp serve's API keys file; every page then needs a key (read-only or
  admin), promote and rollback an admin key. Without --keys the console listens on
  loopback only, reads are open, and an admin key generated at start is printed on
  stderr (never on a page). --demo first registers three models (v1 champion, v2 and v3
  to promote) and writes a prediction log with drift, outcomes and alerts.`

func consoleCmd(ctx context.Context, args []string, cfg walkthrough.Config, stdout io.Writer) error {
	usageErr := func(msg string) error { return fmt.Errorf("%w: %s\n%s", scenario.ErrUsage, msg, consoleUsage) }
	fs := flag.NewFlagSet("mlp console", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var sf storeFlags
	sf.add(fs)
	def := console.DefaultConfig()
	addr := fs.String("addr", "127.0.0.1:8090", "listen address")
	keys := fs.String("keys", "", "API keys JSON file (mlp serve's format); without it: loopback only, open reads, a generated admin key on stderr")
	servingURLs := fs.String("serving", "", "comma-separated base URLs of serving processes (mlp serve's address) whose /metrics to show")
	reports := fs.String("reports", def.ReportsDir, "directory of loadgen JSON reports")
	demo := fs.Bool("demo", false, "first seed the registry and the event log with demo models and a prediction log")
	pos, err := parseInterleaved(fs, consoleUsage, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr(fmt.Sprintf("unexpected argument %q", pos[0]))
	}
	c := def
	c.Logger, c.ReportsDir = cfg.Logger, *reports
	for _, u := range strings.Split(*servingURLs, ",") {
		if u = strings.TrimSpace(u); u != "" {
			if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
				return usageErr(fmt.Sprintf("--serving %q: want an http:// or https:// URL", u))
			}
			c.ServingURLs = append(c.ServingURLs, u)
		}
	}
	if *keys != "" {
		b, err := os.ReadFile(*keys)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &c.Keys); err != nil {
			return fmt.Errorf("keys %s: %w", *keys, err)
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if *keys == "" {
		if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
			return usageErr(fmt.Sprintf("--addr %s is not loopback: without --keys the console would be open to the network; give --keys FILE", *addr))
		}
		admin := console.NewKey()
		c.Keys, c.OpenRead = []serving.APIKey{{Key: admin, Tenant: "local-admin", Models: []string{"*"}, Admin: true}}, true
		fmt.Fprintf(os.Stderr, "console admin key (for promote and rollback; valid until this process ends): %s\n", admin)
	}
	st := console.Stores{NATSURL: sf.nats, Dir: sf.dir, LogURL: cfg.NATSURL, Keyring: cfg.Keyring, Logger: cfg.Logger}
	reg, l, closeStores, err := console.OpenStores(ctx, st)
	if err != nil {
		return err
	}
	defer closeStores()
	c.Registry, c.Log = reg, l
	c.Scenarios = walkthrough.Scenarios(walkthrough.Config{NATSURL: cfg.NATSURL})
	if *demo {
		models, err := reg.Models(ctx)
		if err != nil {
			return err
		}
		if len(models) > 0 && !containsPrefix(models, "console-demo-") {
			fmt.Fprintf(stdout, "demo: the registry already holds %d models; adding the console-demo ones beside them\n", len(models))
		}
		if !containsPrefix(models, "console-demo-") {
			s, err := consoletest.Seed(ctx, reg, l, consoletest.Options{Prefix: "console-demo", Models: 3, Versions: 3, Predictions: 6000})
			if err != nil {
				return fmt.Errorf("seed demo: %w", err)
			}
			fmt.Fprintf(stdout, "demo: registered %s (v1 champion, v2 and v3 to promote)\n", strings.Join(s.Models, ", "))
		}
		if _, err := consoletest.LogPredictions(ctx, reg, l, "console-demo-000", 6000); err != nil {
			return fmt.Errorf("seed demo: %w", err)
		}
		fmt.Fprintf(stdout, "demo: wrote a prediction log with drift, outcomes and alerts for console-demo-000 on %s\n", l.URL())
	}
	con, err := console.New(c)
	if err != nil {
		return err
	}
	defer con.Close()
	fmt.Fprintf(stdout, "console on http://%s/ (registry %s; event log %s)\n", ln.Addr(), registryName(sf), l.URL())
	return cli.Run(ctx, cli.Serve(cli.NewServer(con.Handler()), ln))
}

func containsPrefix(names []string, prefix string) bool {
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}

func registryName(sf storeFlags) string {
	if sf.nats != "" {
		return "on " + sf.nats
	}
	return sf.dir
}
