package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/casebook-ml/casebook/platform/cli"
	"github.com/casebook-ml/casebook/platform/scenario"
	"github.com/casebook-ml/casebook/recsys/sim"
)

type simulateConfig struct {
	Sim sim.Config
	Out string
}

func parseSimulate(args []string) (simulateConfig, error) {
	cfg := simulateConfig{Sim: sim.DefaultConfig()}
	fs := flag.NewFlagSet("recsys simulate", flag.ContinueOnError)
	fs.StringVar(&cfg.Out, "out", "", "write the interactions here in the ML-100K u.data layout (user, item, rating, timestamp; tabs)")
	fs.Uint64Var(&cfg.Sim.Seed, "seed", cfg.Sim.Seed, "seed")
	fs.IntVar(&cfg.Sim.Users, "users", cfg.Sim.Users, "users")
	fs.IntVar(&cfg.Sim.Items, "items", cfg.Sim.Items, "items")
	fs.IntVar(&cfg.Sim.Interactions, "interactions", cfg.Sim.Interactions, "interactions")
	if err := cli.Parse(fs, "recsys simulate --out FILE [flags]\n  writes simulated interactions in the ML-100K u.data layout", args); err != nil {
		return cfg, err
	}
	if cfg.Out == "" {
		return cfg, fmt.Errorf("%w: simulate needs --out FILE", scenario.ErrUsage)
	}
	if err := cfg.Sim.Validate(); err != nil {
		return cfg, fmt.Errorf("%w: %v", scenario.ErrUsage, err)
	}
	return cfg, nil
}

func runSimulate(ctx context.Context, cfg simulateConfig, stdout io.Writer) error {
	s, err := sim.New(cfg.Sim)
	if err != nil {
		return err
	}
	xs, err := s.Generate(ctx)
	if err != nil {
		return err
	}
	f, err := os.Create(cfg.Out)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if err := sim.WriteUData(w, xs); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d interactions to %s\n%s\n", len(xs), cfg.Out, sim.Summarize(xs))
	return nil
}

func sortInt64(xs []int64) { slices.Sort(xs) }
