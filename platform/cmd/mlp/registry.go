package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/casebook-ml/casebook/platform/cli"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/internal/walkthrough"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
	"github.com/casebook-ml/casebook/platform/registry/natskv"
	"github.com/casebook-ml/casebook/platform/scenario"
)

const registryUsage = `mlp registry [--dir DIR | --nats URL] COMMAND
  list                                   models, their versions and aliases
  show MODEL [REF]                       a model's versions, or one version (REF: number or alias)
  promote MODEL VERSION ALIAS --actor A --reason R [--metric auc] [--eval-set holdout]
          [--min-improvement 0] [--latency-budget 2ms] [--serving-schema HASH | --allow-schema-change] [--force]
          The schema gate runs by default: the candidate must be trained on the feature
          service (schema hash) that the alias's current holder was, i.e. what serving is
          fed. --serving-schema names the hash serving provides instead; a deliberate
          migration to another feature service passes --allow-schema-change (the gate is
          then recorded as skipped in the audit entry).
  rollback MODEL ALIAS --actor A --reason R
  archive MODEL VERSION --actor A --reason R   retire a version: no alias may point to it again
  card MODEL [REF]                       the model card (Markdown), REF defaults to champion
  audit [MODEL] [--verify]               the audit log; --verify checks its hash chain
The registry is the directory $CASEBOOK_REGISTRY_DIR (default .casebook/registry) unless
--nats names a NATS server, whose KV and Object Store buckets hold it instead.`

// storeFlags are the flags that choose the registry backend.
type storeFlags struct {
	dir, nats string
}

func (s *storeFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&s.dir, "dir", defaultRegistryDir(), "registry directory (filesystem store)")
	fs.StringVar(&s.nats, "nats", "", "NATS server URL (JetStream KV + Object Store); overrides --dir")
}

// defaultRegistryDir is $CASEBOOK_REGISTRY_DIR, or .casebook/registry.
func defaultRegistryDir() string {
	if d := os.Getenv("CASEBOOK_REGISTRY_DIR"); d != "" {
		return d
	}
	return filepath.Join(".casebook", "registry")
}

// open returns the registry and a function that releases what it opened.
func (s *storeFlags) open(ctx context.Context, cfg walkthrough.Config) (*registry.Registry, func(), error) {
	rc := registry.DefaultConfig()
	rc.Logger, rc.Keyring = cfg.Logger, cfg.Keyring
	if s.nats == "" {
		fc := regfs.DefaultConfig()
		fc.Dir, fc.Logger = s.dir, cfg.Logger
		st, err := regfs.Open(fc)
		if err != nil {
			return nil, nil, err
		}
		r, err := registry.New(st, rc)
		return r, func() {}, err
	}
	lc := eventlog.DefaultConfig()
	lc.URL, lc.Logger = s.nats, cfg.Logger
	l, err := eventlog.Open(ctx, lc)
	if err != nil {
		return nil, nil, err
	}
	st, err := natskv.Open(ctx, l.JetStream(), natskv.DefaultConfig())
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	r, err := registry.New(st, rc)
	return r, func() { l.Close() }, err
}

// parseInterleaved parses flags that may come before, between or after positional
// arguments, and returns the positional ones. -h, --help or a first positional "help"
// return cli's help request with usage and the flags' defaults.
func parseInterleaved(fs *flag.FlagSet, usage string, args []string) ([]string, error) {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // Parse reports it
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); (!ok || !b.IsBoolFlag()) && i+1 < len(args) {
			flags = append(flags, args[i+1])
			i++
		}
	}
	if err := cli.Parse(fs, usage, flags); err != nil {
		return nil, err
	}
	if len(pos) > 0 && pos[0] == "help" {
		return nil, cli.Help(cli.FlagUsage(fs, usage))
	}
	return pos, nil
}

func registryCmd(ctx context.Context, args []string, cfg walkthrough.Config, stdout io.Writer) error {
	usageErr := func(msg string) error { return fmt.Errorf("%w: %s\n%s", scenario.ErrUsage, msg, registryUsage) }
	fs := flag.NewFlagSet("mlp registry", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var sf storeFlags
	sf.add(fs)
	actor := fs.String("actor", os.Getenv("USER"), "who performs the action (audited)")
	reason := fs.String("reason", "", "why (audited; required for promote and rollback)")
	metric := fs.String("metric", "auc", "gate: holdout metric to compare")
	evalSet := fs.String("eval-set", "holdout", "gate: evaluation set of the metric")
	minImp := fs.Float64("min-improvement", 0, "gate: margin by which the candidate must beat the alias holder")
	budget := fs.Duration("latency-budget", 2*time.Millisecond, "gate: p99 predict latency budget (0 skips)")
	serving := fs.String("serving-schema", "", "gate: schema hash the serving feature service provides (default: the alias holder's)")
	allowSchema := fs.Bool("allow-schema-change", false, "gate: skip the feature-schema gate (a deliberate feature service migration)")
	force := fs.Bool("force", false, "move the alias even if gates fail (needs --reason; audited)")
	verify := fs.Bool("verify", false, "audit: verify the hash chain")
	pos, err := parseInterleaved(fs, registryUsage, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageErr("missing command")
	}
	reg, closeFn, err := sf.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeFn()
	cmd, pos := pos[0], pos[1:]
	if (cmd == "promote" || cmd == "rollback" || cmd == "archive") && (strings.TrimSpace(*actor) == "" || strings.TrimSpace(*reason) == "") {
		// The audit entry is only as good as its who and why. On the command line the actor
		// is what the caller types: this registry is files (or a NATS account) that whoever
		// holds them can write; keys guard the serving API and the console, not this.
		return usageErr(cmd + " needs --actor and --reason: both go into the audit log")
	}
	switch cmd {
	case "list":
		return registryList(ctx, reg, stdout)
	case "show":
		if len(pos) < 1 || len(pos) > 2 {
			return usageErr("show MODEL [REF]")
		}
		if len(pos) == 1 {
			return registryVersions(ctx, reg, pos[0], stdout)
		}
		return registryShow(ctx, reg, pos[0], pos[1], stdout)
	case "promote":
		if len(pos) != 3 {
			return usageErr("promote MODEL VERSION ALIAS")
		}
		n, err := strconv.Atoi(strings.TrimPrefix(pos[1], "v"))
		if err != nil {
			return usageErr("VERSION must be a number")
		}
		if *allowSchema && *serving != "" {
			return usageErr("--serving-schema and --allow-schema-change contradict each other")
		}
		g := registry.Gates{EvalSet: *evalSet, Metric: *metric, MinImprovement: *minImp, ServingSchemaHash: *serving, LatencyBudget: *budget,
			SchemaFromHolder: !*allowSchema}
		mv, err := reg.Promote(ctx, registry.PromoteRequest{Model: pos[0], Alias: pos[2], Version: n, Actor: *actor, Reason: *reason, Gates: g, Force: *force})
		printGates(stdout, mv.Gates)
		if err != nil {
			return err
		}
		forced := ""
		if mv.Audit.Forced {
			forced = " (forced)"
		}
		fmt.Fprintf(stdout, "%s@%s: v%d → v%d%s, audit entry %d\n", pos[0], pos[2], mv.Audit.From, mv.Audit.To, forced, mv.Audit.Seq)
		return nil
	case "archive":
		if len(pos) != 2 {
			return usageErr("archive MODEL VERSION")
		}
		n, err := strconv.Atoi(strings.TrimPrefix(pos[1], "v"))
		if err != nil {
			return usageErr("VERSION must be a number")
		}
		e, err := reg.Archive(ctx, pos[0], n, *actor, *reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s v%d archived, audit entry %d\n", pos[0], n, e.Seq)
		return nil
	case "rollback":
		if len(pos) != 2 {
			return usageErr("rollback MODEL ALIAS")
		}
		mv, err := reg.Rollback(ctx, pos[0], pos[1], *actor, *reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s@%s rolled back: v%d → v%d, audit entry %d\n", pos[0], pos[1], mv.Audit.From, mv.Audit.To, mv.Audit.Seq)
		return nil
	case "card":
		if len(pos) < 1 || len(pos) > 2 {
			return usageErr("card MODEL [REF]")
		}
		ref := registry.Champion
		if len(pos) == 2 {
			ref = pos[1]
		}
		card, err := reg.Card(ctx, pos[0], ref)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, card)
		return nil
	case "audit":
		model := ""
		if len(pos) > 0 {
			model = pos[0]
		}
		return registryAudit(ctx, reg, model, *verify, stdout)
	default:
		return usageErr(fmt.Sprintf("unknown registry command %q", cmd))
	}
}

func registryList(ctx context.Context, reg *registry.Registry, w io.Writer) error {
	models, err := reg.Models(ctx)
	if err != nil {
		return err
	}
	if len(models) == 0 {
		fmt.Fprintln(w, "no models registered")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tVERSIONS\tLATEST\tALIASES")
	for _, m := range models {
		vs, err := reg.Versions(ctx, m)
		if err != nil {
			return err
		}
		al, err := reg.Aliases(ctx, m)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%d\tv%d\t%s\n", m, len(vs), vs[len(vs)-1].Number, formatAliases(al))
	}
	return tw.Flush()
}

func formatAliases(al map[string]int) string {
	var parts []string
	for a, v := range al {
		parts = append(parts, fmt.Sprintf("%s=v%d", a, v))
	}
	slices.Sort(parts)
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func registryVersions(ctx context.Context, reg *registry.Registry, model string, w io.Writer) error {
	vs, err := reg.Versions(ctx, model)
	if err != nil {
		return err
	}
	al, err := reg.Aliases(ctx, model)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tFAMILY\tHOLDOUT AUC\tP99\tARTIFACT\tREGISTERED\tBY\tALIASES")
	for _, v := range vs {
		var held []string
		for a, n := range al {
			if n == v.Number {
				held = append(held, a)
			}
		}
		slices.Sort(held)
		auc := "-"
		if x, ok := v.Metrics["holdout"]["auc"]; ok {
			auc = fmt.Sprintf("%.4f", x)
		}
		fmt.Fprintf(tw, "v%d\t%s\t%s\t%v\t%s\t%s\t%s\t%s\n", v.Number, v.Family, auc, v.PredictP99, v.Artifact[:12],
			v.RegisteredAt.Format(time.RFC3339), v.RegisteredBy, strings.Join(held, ","))
	}
	return tw.Flush()
}

func registryShow(ctx context.Context, reg *registry.Registry, model, ref string, w io.Writer) error {
	v, err := reg.Resolve(ctx, model, ref)
	if err != nil {
		return err
	}
	// Verify the artifact too, so `show` is also a health check of what serving would load.
	_, verr := reg.Artifact(ctx, v)
	fmt.Fprintf(w, "%s v%d (%s)\n", v.Model, v.Number, v.Family)
	fmt.Fprintf(w, "  artifact        sha256:%s, %d bytes", v.Artifact, v.Size)
	if v.ArtifactKeyID != "" {
		fmt.Fprintf(w, ", sealed with key %s", v.ArtifactKeyID)
	}
	if verr != nil {
		fmt.Fprintf(w, "  ✘ %v\n", verr)
	} else {
		fmt.Fprintf(w, "  ✔ verified\n")
	}
	fmt.Fprintf(w, "  schema          sha256:%s (%d features: %s)\n", v.SchemaHash, v.Schema.Len(), strings.Join(v.Schema.Names(), ", "))
	if v.FeatureService != "" {
		fmt.Fprintf(w, "  feature service %s %s\n", v.FeatureService, v.FeatureServiceHash)
	}
	fmt.Fprintf(w, "  training data   %s … %s, fingerprint %s\n", v.DataRange.From.Format(time.RFC3339), v.DataRange.To.Format(time.RFC3339), short12(v.DataFingerprint))
	sets := make([]string, 0, len(v.Metrics))
	for s := range v.Metrics {
		sets = append(sets, s)
	}
	slices.Sort(sets)
	for _, s := range sets {
		names := make([]string, 0, len(v.Metrics[s]))
		for n := range v.Metrics[s] {
			names = append(names, n)
		}
		slices.Sort(names)
		var parts []string
		for _, n := range names {
			parts = append(parts, fmt.Sprintf("%s=%.4g", n, v.Metrics[s][n]))
		}
		fmt.Fprintf(w, "  metrics/%-8s %s\n", s, strings.Join(parts, " "))
	}
	fmt.Fprintf(w, "  predict p99     %v\n", v.PredictP99)
	fmt.Fprintf(w, "  parent          v%d\n", v.Parent)
	fmt.Fprintf(w, "  code version    %s\n", v.CodeVersion)
	fmt.Fprintf(w, "  registered      %s by %s\n", v.RegisteredAt.Format(time.RFC3339), v.RegisteredBy)
	return verr
}

func short12(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func printGates(w io.Writer, gates []registry.GateResult) {
	for _, g := range gates {
		mark := "✔"
		switch {
		case g.Skipped:
			mark = "–"
		case !g.Passed:
			mark = "✘"
		}
		fmt.Fprintf(w, "  %s %-24s %s\n", mark, g.Gate, g.Detail)
	}
}

func registryAudit(ctx context.Context, reg *registry.Registry, model string, verify bool, w io.Writer) error {
	entries, err := reg.Audit(ctx, model)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tACTOR\tACTION\tMODEL\tALIAS\tFROM\tTO\tREASON\tHASH")
	for _, e := range entries {
		alias := e.Alias
		if alias == "" {
			alias = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\tv%d\tv%d\t%s\t%s\n", e.Seq, e.Time, e.Actor, e.Action, e.Model, alias, e.From, e.To, e.Reason, short12(e.Hash))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !verify {
		return nil
	}
	n, err := reg.VerifyAudit(ctx)
	var te *registry.TamperError
	if errors.As(err, &te) {
		fmt.Fprintf(w, "✘ audit chain broken at entry %d: %s\n", te.Seq, te.Reason)
		return err
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "✔ audit chain intact: %d entries\n", n)
	return nil
}
