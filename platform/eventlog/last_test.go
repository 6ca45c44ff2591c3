package eventlog_test

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
)

// LastBySubject returns the newest message on one subject (its id, headers, event time,
// sequence), nil for a subject with none, and ErrStreamNotFound for a missing stream.
func TestLastBySubject(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		ctx, l := ctxT(t), open(t, url)
		name, subj := names(t)
		if _, err := l.EnsureStream(ctx, eventlog.StreamConfig{Name: name, Subjects: []string{subj + ".>"}}); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2018, 4, 1, 0, 0, 0, 0, time.UTC)
		var seqs []uint64
		for i, key := range []string{"a", "b", "a", "c"} {
			ack, err := l.Publish(ctx, eventlog.Event{ID: fmt.Sprintf("e%d", i), Subject: subj + "." + key, Time: at.Add(time.Duration(i) * time.Second),
				Data: []byte{byte(i)}, Header: map[string]string{"X-N": fmt.Sprint(i)}})
			if err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, ack.Sequence)
		}
		m, err := l.LastBySubject(ctx, name, subj+".a")
		if err != nil {
			t.Fatal(err)
		}
		if m == nil || m.ID != "e2" || m.Sequence != seqs[2] || m.Header["X-N"] != "2" || !m.Time.Equal(at.Add(2*time.Second)) ||
			len(m.Data) != 1 || m.Data[0] != 2 || m.Subject != subj+".a" || m.Stored.IsZero() {
			t.Fatalf("LastBySubject(a) = %+v, want e2 at %d", m, seqs[2])
		}
		if m, err := l.LastBySubject(ctx, name, subj+".none"); err != nil || m != nil {
			t.Fatalf("LastBySubject(none) = %+v, %v; want nil, nil", m, err)
		}
		if _, err := l.LastBySubject(ctx, name+"_MISSING", subj+".a"); !errors.Is(err, eventlog.ErrStreamNotFound) {
			t.Fatalf("LastBySubject on a missing stream = %v, want ErrStreamNotFound", err)
		}
	})
}

// BenchmarkSubjectIndexMemory is the embedded server's heap per stored message when every
// message has its own subject (one per key, what LastBySubject needs) and when all share
// one, in a file-backed stream: the difference is what the per-subject index costs.
// bytes/msg is the growth of the process's live heap (after a collection) over the
// messages; payloads are 100 bytes.
func BenchmarkSubjectIndexMemory(b *testing.B) {
	const n = 200_000
	for _, perKey := range []bool{false, true} {
		b.Run(fmt.Sprintf("subject-per-message=%v", perKey), func(b *testing.B) {
			for range b.N {
				ctx := b.Context()
				l, err := eventlog.Open(ctx, eventlog.DefaultConfig())
				if err != nil {
					b.Fatal(err)
				}
				if _, err := l.EnsureStream(ctx, eventlog.StreamConfig{Name: "MEM", Subjects: []string{"mem.>"}, Duplicates: 100 * time.Millisecond}); err != nil {
					b.Fatal(err)
				}
				before := liveHeap()
				data := make([]byte, 100)
				evs := make([]eventlog.Event, 0, 1000)
				for i := 0; i < n; i += 1000 {
					evs = evs[:0]
					for j := i; j < i+1000; j++ {
						subject := "mem.all"
						if perKey {
							subject = fmt.Sprintf("mem.%d", 1_000_000_000+j)
						}
						evs = append(evs, eventlog.Event{ID: fmt.Sprint(j), Subject: subject, Data: data})
					}
					p, err := l.PublishAsync(evs)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := p.Wait(ctx); err != nil {
						b.Fatal(err)
					}
				}
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
