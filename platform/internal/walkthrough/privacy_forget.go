package walkthrough

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/featurestest"
	"github.com/casebook-ml/casebook/platform/features/memory"
	"github.com/casebook-ml/casebook/platform/privacy/forget"
	"github.com/casebook-ml/casebook/platform/privacy/pii"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
	"github.com/casebook-ml/casebook/platform/scenario"
)

// filesContaining counts the files under dir whose bytes contain s.
func filesContaining(dir, s string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err == nil && bytes.Contains(b, []byte(s)) {
			n++
		}
		return err
	})
	return n, err
}

func forgetSubject() scenario.Scenario {
	return scenario.Scenario{
		Name:    "privacy/forget",
		Summary: "The right to be forgotten and retention: one customer's rows leave every offline partition version and the online store, the audit log records it by a hash, and a retention purge drops rows older than a cutoff.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			dir, err := os.MkdirTemp("", "casebook-forget-*")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			reg, err := featurestest.Registry()
			if err != nil {
				return err
			}
			tok, err := pii.NewEphemeral()
			if err != nil {
				return err
			}
			ocfg := features.DefaultOfflineConfig()
			ocfg.Dir = filepath.Join(dir, "offline")
			off, err := features.OpenOffline(ocfg, reg)
			if err != nil {
				return err
			}
			online := memory.New(reg)
			fc := regfs.DefaultConfig()
			fc.Dir = filepath.Join(dir, "registry")
			rs, err := regfs.Open(fc)
			if err != nil {
				return err
			}
			audit, err := registry.New(rs, registry.DefaultConfig())
			if err != nil {
				return err
			}

			const customers, days = 50, 10
			r.Step("%d customers, keyed by their tokens (HMAC-SHA256, an ephemeral key), one profile row a day for %d days: appended daily, then day 3 backfilled, so superseded partition versions hold rows too", customers, days)
			end := time.Now().UTC().Truncate(24 * time.Hour)
			start := end.Add(-days * 24 * time.Hour)
			key := func(c int) string { return tok.Token("customer", fmt.Sprintf("cust-%04d", c)) }
			var newest []features.Row
			for d := 0; d < days; d++ {
				var rows []features.Row
				for c := 0; c < customers; c++ {
					rows = append(rows, featurestest.ProfileRow(key(c), start.Add(time.Duration(d)*24*time.Hour+time.Duration(c)*time.Minute), uint64(d*customers+c), int64(20+c)))
				}
				if err := off.Append(ctx, "profile", rows); err != nil {
					return err
				}
				if d == 3 {
					if err := off.Rewrite(ctx, "profile", rows, "backfill"); err != nil {
						return err
					}
				}
				newest = rows
			}
			if _, err := online.Write(ctx, "profile", newest); err != nil {
				return err
			}
			subject := key(7)
			before, err := off.Scan(ctx, "profile", time.Time{}, time.Time{})
			if err != nil {
				return err
			}
			onDisk, err := filesContaining(ocfg.Dir, subject)
			if err != nil {
				return err
			}
			r.Say("offline store: %d rows; the subject's token %s… is in %d files on disk (current and superseded versions)", len(before), subject[:12], onDisk)

			r.Step("Forget customer cust-0007: the request names its token under every key held (tok.Candidates)")
			res, err := forget.Subject(ctx, forget.Request{Entity: "customer", Subjects: tok.Candidates("customer", "cust-0007"),
				Actor: "privacy-officer", Ticket: "DSR-2041", Model: "fraud"}, reg, off, online, audit)
			if err != nil {
				return err
			}
			after, err := off.Scan(ctx, "profile", time.Time{}, time.Time{})
			if err != nil {
				return err
			}
			left := 0
			for _, row := range after {
				if row.Entity == subject {
					left++
				}
			}
			onDisk, err = filesContaining(ocfg.Dir, subject)
			if err != nil {
				return err
			}
			r.Say("views erased (entity customer, marked PII): %s", strings.Join(res.Views, ", "))
			r.Say("offline: %d rows removed from %d partitions, %d files deleted; %d rows left, %d of the subject; files on disk holding its token: %d",
				res.Offline.Rows, res.Offline.Partitions, res.Offline.Files, len(after), left, onDisk)
			r.Measure("offline rows removed", float64(res.Offline.Rows), "")
			r.Check("no offline row and no file on disk holds the subject", left == 0 && onDisk == 0)
			r.Check("every other customer's rows are kept", len(after) == len(before)-days)
			got, err := online.Read(ctx, features.ReadRequest{Views: []features.ViewRequest{{View: "profile", Features: []string{"age"}, Entities: []string{subject, key(8)}}}})
			if err != nil {
				return err
			}
			r.Say("online: %d key deleted; the subject reads %v, customer 8 reads %v", res.Online, got.Views[0].Get(0, 0).Status, got.Views[0].Get(1, 0).Status)
			r.Check("the online store forgot the subject and only it", got.Views[0].Get(0, 0).Status == features.Missing && got.Views[0].Get(1, 0).Status != features.Missing)

			entries, err := audit.Audit(ctx, "fraud")
			if err != nil {
				return err
			}
			e := entries[len(entries)-1]
			r.Say("audit entry %d by %s: %s", e.Seq, e.Actor, e.Reason)
			r.Check("the audit entry names the subject by hash only (no token, no raw id)", !strings.Contains(e.Reason, subject) && !strings.Contains(e.Reason, "cust-0007") && strings.Contains(e.Reason, forget.SubjectHash(subject)))
			n, err := audit.VerifyAudit(ctx)
			r.Check(fmt.Sprintf("audit chain intact (%d entries)", n), err == nil)

			r.Step("Retention: purge offline rows older than 7 days")
			cutoff := end.Add(-7 * 24 * time.Hour)
			st, err := off.Purge(ctx, "profile", cutoff, "retention 7d")
			if err != nil {
				return err
			}
			kept, err := off.Scan(ctx, "profile", time.Time{}, time.Time{})
			if err != nil {
				return err
			}
			r.Say("purged %d rows in %d partitions (%d files deleted); %d rows left, oldest %s (cutoff %s)",
				st.Rows, st.Partitions, st.Files, len(kept), off.Oldest("profile").Format(time.DateTime), cutoff.Format(time.DateTime))
			r.Check("no row older than the cutoff remains", !off.Oldest("profile").Before(cutoff) && len(kept) == 7*(customers-1))
			return nil
		},
	}
}
