package eventlog

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/cputime"
)

// BenchmarkSubjectIndexMemory is the embedded server's heap per stored message when every
// message has its own subject (one per key, what LastBySubject needs) and when all share
// one, in a file-backed stream: the difference is what the per-subject index costs.
// bytes/msg is the growth of the process's live heap (after a collection) over the
// messages; payloads are 100 bytes. cpu-ns/msg is the process's CPU time (client and
// server) per message published and stored, 1,000 at a time.
func BenchmarkSubjectIndexMemory(b *testing.B) {
	const n = 200_000
	for _, perKey := range []bool{false, true} {
		b.Run(fmt.Sprintf("subject-per-message=%v", perKey), func(b *testing.B) {
			for range b.N {
				ctx := b.Context()
				l, err := Open(ctx, DefaultConfig())
				if err != nil {
					b.Fatal(err)
				}
				if _, err := l.EnsureStream(ctx, StreamConfig{Name: "MEM", Subjects: []string{"mem.>"}, Duplicates: 100 * time.Millisecond}); err != nil {
					b.Fatal(err)
				}
				before := liveHeap()
				cpu0 := cputime.Process()
				data := make([]byte, 100)
				evs := make([]Event, 0, 1000)
				for i := 0; i < n; i += 1000 {
					evs = evs[:0]
					for j := i; j < i+1000; j++ {
						subject := "mem.all"
						if perKey {
							subject = fmt.Sprintf("mem.%d", 1_000_000_000+j)
						}
						evs = append(evs, Event{ID: fmt.Sprint(j), Subject: subject, Data: data})
					}
					p, err := l.PublishAsync(evs)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := p.Wait(ctx); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(cputime.Process()-cpu0)/n, "cpu-ns/msg")
				time.Sleep(300 * time.Millisecond) // the duplicates window empties
				b.ReportMetric(float64(liveHeap()-before)/n, "bytes/msg")
				l.Close()
			}
		})
	}
}

func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
