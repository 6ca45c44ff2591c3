package eventlog

import (
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/cputime"
)

func TestFirstSeen(t *testing.T) {
	// Generations of a minute from t0: [0, 1m) is the first.
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	f := NewFirstSeen(time.Minute)
	steps := []struct {
		name   string
		id     string
		seq    uint64
		stored time.Time
		want   bool
	}{
		{"first copy", "a", 1, at(0), true},
		{"another id", "b", 2, at(50 * time.Second), true},
		{"redelivery of the first copy", "a", 1, at(50 * time.Second), true},
		{"copy stored later, inside the horizon", "a", 3, at(59 * time.Second), false},
		{"copy of b in the next generation", "b", 4, at(100 * time.Second), false},
		{"copy of a within twice the horizon", "a", 5, at(110 * time.Second), false},
		{"a's copy after twice the horizon counts as first", "a", 6, at(120 * time.Second), true},
		{"and is remembered from then on", "a", 7, at(121 * time.Second), false},
		{"and is forgotten in the third", "b", 9, at(125 * time.Second), true},
		{"a gap of more than a generation forgets everything", "a", 10, at(300 * time.Second), true},
	}
	for _, s := range steps {
		if got := f.First(s.id, s.seq, s.stored); got != s.want {
			t.Fatalf("%s: First(%q, %d, %v) = %v, want %v", s.name, s.id, s.seq, s.stored.Sub(t0), got, s.want)
		}
	}
	if seq, ok := f.FirstSeq("a"); !ok || seq != 10 {
		t.Errorf("FirstSeq(a) = %d, %v, want 10, true", seq, ok)
	}
	if f.Len() != 1 {
		t.Errorf("Len = %d, want 1", f.Len())
	}
}

// A copy is recognised whatever the offsets, as long as it comes within the horizon, and
// the memory stays bounded by two generations however long the stream.
func TestFirstSeenWithinHorizon(t *testing.T) {
	const horizon = time.Second
	f := NewFirstSeen(horizon)
	t0 := time.Unix(0, 0)
	for i := range 100_000 {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		if !f.First(strconv.Itoa(i), uint64(2*i+1), now) {
			t.Fatalf("id %d: not first", i)
		}
		// A retry of the id sent a horizon (999 ids, 999 ms) ago.
		if j := i - 999; j >= 0 && f.First(strconv.Itoa(j), uint64(2*i+2), now) {
			t.Fatalf("id %d retried at %v, %v after its first copy: counted as first", j, now.Sub(t0), horizon)
		}
	}
	if n := f.Len(); n > 2000 {
		t.Errorf("Len = %d after 100 s at 1,000 ids/s with a 1 s horizon, want at most 2,000", n)
	}
}

// BenchmarkFirstSeen is the cost of one First call at a steady state (decimal transaction
// ids, 20,000 a second of log time, a 1 minute horizon: 1.2 to 2.4 million ids kept), and
// the heap per id kept.
func BenchmarkFirstSeen(b *testing.B) {
	const rate = 20_000
	ids := make([]string, 1<<22) // 210 s of ids: a repeat is outside two horizons
	for i := range ids {
		ids[i] = strconv.Itoa(10_000_000 + i)
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	f := NewFirstSeen(time.Minute)
	t0 := time.Unix(0, 0)
	n0 := 3 * 60 * rate // three generations in: the maps are at their steady size
	for i := range n0 {
		f.First(ids[i&(len(ids)-1)], uint64(i+1), t0.Add(time.Duration(i)*time.Second/rate))
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	perID := float64(m1.HeapAlloc-m0.HeapAlloc) / float64(f.Len())
	b.ResetTimer()
	cpu0 := cputime.Process().Nanoseconds()
	for n := range b.N {
		j := n0 + n
		f.First(ids[j&(len(ids)-1)], uint64(j+1), t0.Add(time.Duration(j)*time.Second/rate))
	}
	b.ReportMetric(float64(cputime.Process().Nanoseconds()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(perID, "bytes/id")
}

// Against a reference that remembers every id: new ids, redeliveries and retries at random
// delays, with rates that change so the table grows, moves and shrinks. A retry within the
// horizon of its first copy is always recognised, one after twice the horizon never is,
// and a redelivery is always first.
func TestFirstSeenAgainstReference(t *testing.T) {
	const horizon = time.Second
	rng := rand.New(rand.NewPCG(1, 2))
	f := NewFirstSeen(horizon)
	type firstCopy struct {
		seq    uint64
		stored time.Time
	}
	ref := map[string]firstCopy{}
	var ids []string
	now := time.Unix(1_000_000, 0)
	seq := uint64(0)
	for step := range 400_000 {
		// Bursts of up to 20,000 ids a second, then quiet spells.
		rate := 50 + 20_000*((step/40_000)%2)
		now = now.Add(time.Second / time.Duration(rate))
		seq++
		var id string
		switch r := rng.IntN(10); {
		case r < 7 || len(ids) == 0:
			id = "tx-" + strconv.Itoa(step)
			ids = append(ids, id)
		case r < 9:
			id = ids[len(ids)-1-rng.IntN(min(len(ids), 50_000))] // a retry, at some delay
		default:
			id = ids[len(ids)-1-rng.IntN(min(len(ids), 100))]
			if fc, ok := ref[id]; ok && now.Sub(fc.stored) < horizon {
				// A redelivery of the first copy: same sequence.
				if !f.First(id, fc.seq, now) {
					t.Fatalf("step %d: redelivery of %s (seq %d) not first", step, id, fc.seq)
				}
				continue
			}
		}
		got := f.First(id, seq, now)
		fc, seen := ref[id]
		age := now.Sub(fc.stored)
		switch {
		case !seen:
			if !got {
				t.Fatalf("step %d: new id %s taken for a retry", step, id)
			}
		case age <= horizon && got:
			t.Fatalf("step %d: retry of %s %v after its first copy counted as first", step, id, age)
		case age > 2*horizon && !got:
			t.Fatalf("step %d: copy of %s %v after its first, past twice the horizon, counted as a retry", step, id, age)
		}
		if got {
			ref[id] = firstCopy{seq, now}
		}
	}
}
