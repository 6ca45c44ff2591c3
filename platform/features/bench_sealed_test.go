package features_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/seal"
)

// BenchmarkSealedPartition measures the cost of encryption at rest on one realistic
// partition file (200k profile rows, one day): seal+open of the file's bytes alone, and a
// full Scan of the day in the clear and sealed. Bytes/s is of the stored Parquet file.
//
//	cd platform && go test ./features -run '^$' -bench SealedPartition -benchtime 20x
func BenchmarkSealedPartition(b *testing.B) {
	ctx := context.Background()
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	rows := profileRows(day, 200_000)
	for i := range rows {
		rows[i].Time = day.Add(time.Duration(i) * 400 * time.Millisecond)
	}
	dirs := map[string]string{"clear": b.TempDir(), "sealed": b.TempDir()}
	var size int64
	for name, spec := range map[string]string{"clear": "", "sealed": testKeyA} {
		o := sealedOffline(b, dirs[name], spec)
		if err := o.Append(ctx, "profile", rows); err != nil {
			b.Fatal(err)
		}
		if name == "clear" {
			f := o.Manifest().Views["profile"].Partitions["2026-11-01"].Files[0]
			st, err := os.Stat(filepath.Join(dirs[name], f.Path))
			if err != nil {
				b.Fatal(err)
			}
			size = st.Size()
		}
	}
	kr, err := seal.ParseKeyring(testKeyA)
	if err != nil {
		b.Fatal(err)
	}
	plain := make([]byte, size)
	b.Run("seal+open", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			env, err := kr.Seal(plain, []byte("views/profile/2026-11-01/v0001-0.parquet"))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := kr.Open(env, []byte("views/profile/2026-11-01/v0001-0.parquet")); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, name := range []string{"clear", "sealed"} {
		spec := map[string]string{"clear": "", "sealed": testKeyA}[name]
		o := sealedOffline(b, dirs[name], spec)
		b.Run("scan-"+name, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				got, err := o.Scan(ctx, "profile", time.Time{}, time.Time{})
				if err != nil || len(got) != len(rows) {
					b.Fatalf("Scan = %d rows, %v", len(got), err)
				}
			}
		})
	}
}
