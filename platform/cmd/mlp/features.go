package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/memory"
	fredis "github.com/casebook-ml/casebook/platform/features/redis"
	"github.com/casebook-ml/casebook/platform/internal/walkthrough"
	"github.com/casebook-ml/casebook/platform/scenario"
)

const featuresUsage = `mlp features [--dir DIR] [--redis ADDR] COMMAND
  list                                        feature views: entity, features, TTL, windows, partitions
  seed [--hours 4]                            compute the demo view over synthetic transactions into DIR
  materialize --view V [--from T] [--to T]    copy the newest offline values in [from, to) online
  materialize --view V --incremental [--until T]   from the persisted watermark (resumable)
  read --view V --entity K[,K...] [--at T]    an entity's online features with status and age
  freshness [--now T]                         newest event time, lag and materialization watermark per view
DIR is the offline store ($CASEBOOK_FEATURES_DIR, default .casebook/features). The online
store is Redis at --redis ($CASEBOOK_REDIS_ADDR); without it, a memory store that lives only
for the command (read then loads it from the offline store first). Times are RFC 3339.`

func featuresCommand(ctx context.Context, args []string, cfg walkthrough.Config, stdout io.Writer) error {
	usageErr := func(msg string) error { return fmt.Errorf("%w: %s\n%s", scenario.ErrUsage, msg, featuresUsage) }
	fs := flag.NewFlagSet("mlp features", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	defDir := os.Getenv("CASEBOOK_FEATURES_DIR")
	if defDir == "" {
		defDir = filepath.Join(".casebook", "features")
	}
	dir := fs.String("dir", defDir, "offline store directory")
	redisAddr := fs.String("redis", os.Getenv("CASEBOOK_REDIS_ADDR"), "Redis address for the online store (empty: memory)")
	view := fs.String("view", "", "feature view")
	entity := fs.String("entity", "", "entity keys, comma separated")
	var from, to, until, at, now timeFlag
	fs.Var(&from, "from", "start of the range (inclusive)")
	fs.Var(&to, "to", "end of the range (exclusive)")
	fs.Var(&until, "until", "incremental: materialize up to this time (default: newest offline row + 1ns)")
	fs.Var(&at, "at", "read time the TTL is measured from (default now)")
	fs.Var(&now, "now", "freshness: the time to measure lag against (default now)")
	incremental := fs.Bool("incremental", false, "materialize from the persisted watermark")
	hours := fs.Int("hours", 4, "seed: hours of synthetic transactions")
	pos, err := parseInterleaved(fs, featuresUsage, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("want exactly one command")
	}
	if pos[0] == "seed" {
		res, err := walkthrough.SeedFeatureStore(ctx, *dir, *hours, cfg.Keyring)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "seeded %s: view customer_activity, %d rows from %d events\n", *dir, len(res.Rows), res.Stats.Applied+res.Stats.Late)
		return nil
	}

	reg := features.NewRegistry()
	oc := features.DefaultOfflineConfig()
	oc.Dir, oc.Logger, oc.Keyring = *dir, cfg.Logger, cfg.Keyring
	off, err := features.OpenOffline(oc, reg)
	if err != nil {
		return err
	}
	var online features.OnlineStore
	if *redisAddr != "" {
		rc := fredis.DefaultConfig()
		rc.Addr, rc.Timeout, rc.Logger = *redisAddr, 2*time.Second, cfg.Logger
		s, err := fredis.New(rc, reg)
		if err != nil {
			return err
		}
		defer s.Close()
		online = s
	} else {
		online = memory.New(reg)
	}
	mat, err := features.NewMaterializer(off, online, nil, features.DefaultMaterializeConfig())
	if err != nil {
		return err
	}
	needView := func() (*features.FeatureView, error) {
		if *view == "" {
			return nil, usageErr("--view is required")
		}
		return reg.View(*view)
	}

	switch pos[0] {
	case "list":
		return listViews(off, reg, stdout)
	case "materialize":
		v, err := needView()
		if err != nil {
			return err
		}
		var st features.MaterializeStats
		if *incremental {
			u := until.t
			if u.IsZero() {
				u = off.Newest(v.Name).Add(time.Nanosecond)
			}
			st, err = mat.Incremental(ctx, v.Name, u)
		} else {
			st, err = mat.Range(ctx, v.Name, from.t, to.orFar())
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "materialized %s [%s, %s): %d days, %d offline rows, %d entities, %d rows applied (%d values) to %s\n",
			v.Name, fmtTime(st.From), fmtTime(st.To), st.Days, st.Rows, st.Entities, st.Applied, st.Values, storeName(*redisAddr))
		if *redisAddr == "" {
			fmt.Fprintln(stdout, "(memory store: the values lived only for this command; use --redis to keep them)")
		}
		return nil
	case "read":
		v, err := needView()
		if err != nil {
			return err
		}
		if *entity == "" {
			return usageErr("--entity is required")
		}
		if *redisAddr == "" {
			if _, err := mat.Range(ctx, v.Name, time.Time{}, farFuture); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "(memory store loaded from the offline store in %s)\n", *dir)
		}
		readAt := at.t
		if readAt.IsZero() {
			readAt = time.Now().UTC()
		}
		res, err := online.Read(ctx, features.ReadRequest{At: readAt, Views: []features.ViewRequest{{View: v.Name, Entities: strings.Split(*entity, ",")}}})
		if err != nil {
			return err
		}
		vr := res.Views[0]
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "ENTITY\tFEATURE\tVALUE\tSTATUS\tEVENT TIME\tAGE (TTL %v)\n", v.TTL)
		for e, ent := range vr.Entities {
			for f, name := range vr.Features {
				fv := vr.Get(e, f)
				val, age := "-", "-"
				if fv.Status == features.Present {
					val = fv.Value.String()
				}
				if !fv.Time.IsZero() {
					age = fv.Age(readAt).Round(time.Second).String()
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ent, name, val, fv.Status, fmtTime(fv.Time), age)
			}
		}
		return tw.Flush()
	case "freshness":
		n := now.t
		if n.IsZero() {
			n = time.Now().UTC()
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VIEW\tNEWEST EVENT (offline)\tLAG\tMATERIALIZED UP TO\tONLINE LAG")
		for _, name := range reg.ViewNames() {
			newest := off.Newest(name)
			wm, err := mat.Watermark(name)
			if err != nil {
				return err
			}
			lag, olag := "-", "-"
			if !newest.IsZero() {
				lag = n.Sub(newest).Round(time.Second).String()
			}
			if !wm.IsZero() {
				olag = n.Sub(wm).Round(time.Second).String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, fmtTime(newest), lag, fmtTime(wm), olag)
		}
		fmt.Fprintln(tw, "(a running ingestor exports the live values as casebook_feature_freshness_seconds)")
		return tw.Flush()
	}
	return usageErr(fmt.Sprintf("unknown command %q", pos[0]))
}

func listViews(off *features.OfflineStore, reg *features.Registry, stdout io.Writer) error {
	m := off.Manifest()
	names := reg.ViewNames()
	if len(names) == 0 {
		fmt.Fprintf(stdout, "no feature views in %s (try: mlp features seed)\n", off.Dir())
		return nil
	}
	for _, name := range names {
		v, _ := reg.View(name)
		fmt.Fprintf(stdout, "%s  entity %s (%s)  TTL %v  hash %s\n", v.Name, v.Entity.Name, v.Entity.JoinKey, v.TTL, v.Hash())
		if v.IsAggregation() {
			fmt.Fprintf(stdout, "  aggregation over %v in %v buckets, allowed lateness %v, source %s\n", v.Inputs, v.Bucket, v.AllowedLateness, v.Source)
		}
		for _, f := range v.Features {
			fmt.Fprintf(stdout, "  %-28s %-7s %s\n", f.Name, f.Kind, f.Description)
		}
		if vm := m.Views[name]; vm != nil {
			days := make([]string, 0, len(vm.Partitions))
			rows := 0
			for d, p := range vm.Partitions {
				days = append(days, fmt.Sprintf("%s v%d", d, p.Version))
				rows += p.Rows()
			}
			sort.Strings(days)
			fmt.Fprintf(stdout, "  offline: %d rows in %d day partitions: %s\n", rows, len(days), strings.Join(days, ", "))
		}
	}
	return nil
}

var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

type timeFlag struct{ t time.Time }

func (f *timeFlag) String() string { return fmtTime(f.t) }

func (f *timeFlag) Set(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("want an RFC 3339 time like 2018-04-01T02:00:00Z: %w", err)
	}
	f.t = t.UTC()
	return nil
}

func (f *timeFlag) orFar() time.Time {
	if f.t.IsZero() {
		return farFuture
	}
	return f.t
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	if t.Equal(farFuture) {
		return "∞"
	}
	return t.UTC().Format(time.RFC3339)
}

func storeName(addr string) string {
	if addr == "" {
		return "memory"
	}
	return "redis " + addr
}
