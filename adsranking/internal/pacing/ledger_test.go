package pacing

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func newTestLedger(t testing.TB, mode Mode, budgets map[int64]Micros) *Ledger {
	t.Helper()
	cfg := DefaultLedgerConfig()
	cfg.Mode, cfg.Window, cfg.Retention, cfg.Shards = mode, 10*time.Minute, 10*time.Minute, 8
	l, err := NewLedger(cfg)
	if err != nil {
		t.Fatalf("NewLedger(%+v): %v", cfg, err)
	}
	for id, b := range budgets {
		if err := l.SetBudget(id, b); err != nil {
			t.Fatalf("SetBudget(%d, %v): %v", id, b, err)
		}
	}
	return l
}

func mustAccount(t *testing.T, l *Ledger, id int64) Account {
	t.Helper()
	a, ok := l.Account(id)
	if !ok {
		t.Fatalf("Account(%d): not found", id)
	}
	return a
}

func mustReserve(t *testing.T, l *Ledger, campaign int64, amount Micros, now time.Time) Reservation {
	t.Helper()
	r, err := l.Reserve(campaign, uint64(amount), amount, now)
	if err != nil {
		t.Fatalf("Reserve(%d, %v) = %v", campaign, amount, err)
	}
	return r
}

// Many goroutines reserving, settling and releasing at once never take committed plus
// billed spend over the budget, and the books add up afterwards.
func TestReserveConcurrentNeverExceedsBudget(t *testing.T) {
	const budget = 20_000
	l := newTestLedger(t, ReserveAtDecision, map[int64]Micros{1: budget})
	var (
		wg       sync.WaitGroup
		stop     atomic.Bool
		billed   atomic.Int64
		reserved atomic.Int64 // successful reservations
		over     atomic.Int64 // observations over budget
	)
	wg.Go(func() { // an observer checking the invariant while it is being stressed
		for !stop.Load() {
			if a, _ := l.Account(1); a.Committed+a.Billed > a.Budget {
				over.Add(1)
			}
		}
	})
	var workers sync.WaitGroup
	for g := range 16 {
		workers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range 2000 {
				amount := Micros(1 + rng.IntN(40))
				r, err := l.Reserve(1, uint64(g<<20|i), amount, t0)
				if err != nil {
					if !errors.Is(err, ErrExhausted) {
						t.Errorf("Reserve(1, %v) = %v, want nil or ErrExhausted", amount, err)
					}
					continue
				}
				reserved.Add(1)
				switch rng.IntN(3) {
				case 0: // won: billed at a second price below the reservation
					actual := amount - Micros(rng.IntN(int(amount)))
					if err := l.Confirm(r, actual, t0.Add(time.Minute)); err != nil {
						t.Errorf("Confirm(%d, %v) = %v, want nil", r, actual, err)
					}
					billed.Add(int64(actual))
				case 1: // lost the auction
					if err := l.Release(r); err != nil {
						t.Errorf("Release(%d) = %v, want nil", r, err)
					}
				} // otherwise: still waiting for its report
			}
		})
	}
	workers.Wait()
	stop.Store(true)
	wg.Wait()
	a := mustAccount(t, l, 1)
	if over.Load() > 0 {
		t.Errorf("committed+billed was over budget in %d observations", over.Load())
	}
	if a.Committed+a.Billed > budget {
		t.Errorf("committed %v + billed %v > budget %v", a.Committed, a.Billed, Micros(budget))
	}
	if a.Billed != Micros(billed.Load()) {
		t.Errorf("Billed = %v, want %v (the sum of confirmed amounts)", a.Billed, Micros(billed.Load()))
	}
	if a.Refused == 0 || reserved.Load() == 0 {
		t.Errorf("refused %d, reserved %d: the test did not reach the budget", a.Refused, reserved.Load())
	}
	// Once every open reservation expires, only billed spend is left.
	if n := l.Expire(t0.Add(time.Hour)); n == 0 {
		t.Errorf("Expire = 0, want the open reservations expired")
	}
	if a := mustAccount(t, l, 1); a.Committed != 0 || a.Billed != Micros(billed.Load()) {
		t.Errorf("after expiry committed %v billed %v, want 0 and %v", a.Committed, a.Billed, Micros(billed.Load()))
	}
}

// With unit reservations and nothing returned, exactly the budget's worth succeeds: a
// check-then-add race would let a few more through.
func TestReserveConcurrentExactFill(t *testing.T) {
	const budget = 5000
	l := newTestLedger(t, ReserveAtDecision, map[int64]Micros{7: budget})
	var ok atomic.Int64
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := range 400 {
				if _, err := l.Reserve(7, uint64(g*400+i), 1, t0); err == nil {
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if ok.Load() != budget {
		t.Errorf("%d unit reservations succeeded, want exactly %d", ok.Load(), budget)
	}
	if a := mustAccount(t, l, 7); a.Committed != budget || a.Refused != 32*400-budget {
		t.Errorf("committed %v refused %d, want %d and %d", a.Committed, a.Refused, budget, 32*400-budget)
	}
}

func TestConfirmIdempotent(t *testing.T) {
	l := newTestLedger(t, ReserveAtDecision, map[int64]Micros{1: 1000})
	r := mustReserve(t, l, 1, 100, t0)
	for i, want := range []error{nil, ErrDuplicateReport, ErrDuplicateReport} {
		if err := l.Confirm(r, 60, t0.Add(time.Minute)); err != want {
			t.Errorf("Confirm #%d = %v, want %v", i+1, err, want)
		}
	}
	a := mustAccount(t, l, 1)
	if a.Billed != 60 || a.Committed != 0 || a.Confirmed != 1 || a.Duplicates != 2 {
		t.Errorf("Account = %+v, want billed 60 once, committed 0, 1 confirmed, 2 duplicates", a)
	}
	if got := l.Available(1); got != 940 {
		t.Errorf("Available(1) = %v, want 940 (the unused 40 returned)", got)
	}
	if err := l.Release(r); err != ErrDuplicateReport {
		t.Errorf("Release after Confirm = %v, want ErrDuplicateReport", err)
	}
}

func TestConfirmAndReleaseErrors(t *testing.T) {
	l := newTestLedger(t, ReserveAtDecision, map[int64]Micros{1: 1000})
	r1 := mustReserve(t, l, 1, 100, t0)
	r2 := mustReserve(t, l, 1, 99, t0)
	never := Reservation(1<<40<<shardBits | 3)
	badShard := Reservation(1<<shardBits | 1000)
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"confirm above the reservation", func() error { return l.Confirm(r1, 101, t0) }, ErrExceedsReservation},
		{"confirm negative", func() error { return l.Confirm(r1, -1, t0) }, ErrAmount},
		{"confirm the zero reservation", func() error { return l.Confirm(0, 1, t0) }, ErrUnknownReservation},
		{"confirm one never issued", func() error { return l.Confirm(never, 1, t0) }, ErrUnknownReservation},
		{"confirm on a shard that does not exist", func() error { return l.Confirm(badShard, 1, t0) }, ErrUnknownReservation},
		{"release one never issued", func() error { return l.Release(never) }, ErrUnknownReservation},
		{"release", func() error { return l.Release(r2) }, nil},
		{"release twice", func() error { return l.Release(r2) }, ErrLate},
		{"report after release", func() error { return l.Confirm(r2, 50, t0) }, ErrLate},
		{"confirm at the reservation", func() error { return l.Confirm(r1, 100, t0) }, nil},
	}
	for _, tt := range tests {
		if err := tt.do(); err != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
	a := mustAccount(t, l, 1)
	if a.Billed != 100 || a.Committed != 0 || a.Late != 1 || a.Released != 1 {
		t.Errorf("Account = %+v, want billed 100, committed 0, 1 late, 1 released", a)
	}
	if l.UnknownReports() != 3 {
		t.Errorf("UnknownReports = %d, want 3", l.UnknownReports())
	}
}

func TestReserveErrors(t *testing.T) {
	l := newTestLedger(t, ReserveAtDecision, map[int64]Micros{1: 1000})
	mustReserve(t, l, 1, 10, t0)
	tests := []struct {
		campaign int64
		amount   Micros
		want     error
	}{
		{2, 10, ErrUnknownCampaign},
		{1, 0, ErrAmount},
		{1, -3, ErrAmount},
		{1, 991, ErrExhausted},
		{1, 990, nil},
		{1, 1, ErrExhausted},
	}
	for _, tt := range tests {
		if _, err := l.Reserve(tt.campaign, 1, tt.amount, t0); err != tt.want {
			t.Errorf("Reserve(%d, %v) = %v, want %v", tt.campaign, tt.amount, err, tt.want)
		}
	}
}

func TestExpiryReleasesBudget(t *testing.T) {
	l := newTestLedger(t, ReserveAtDecision, map[int64]Micros{1: 1000}) // window 10 min, retention 10 min
	var rs []Reservation
	for range 3 {
		rs = append(rs, mustReserve(t, l, 1, 300, t0))
	}
	if _, err := l.Reserve(1, 4, 300, t0.Add(time.Minute)); err != ErrExhausted {
		t.Fatalf("Reserve over budget = %v, want ErrExhausted", err)
	}
	if err := l.Confirm(rs[0], 200, t0.Add(5*time.Minute)); err != nil {
		t.Fatalf("Confirm in the window = %v", err)
	}
	if n := l.Expire(t0.Add(10 * time.Minute)); n != 0 {
		t.Errorf("Expire at the deadline = %d, want 0 (still valid)", n)
	}
	if n := l.Expire(t0.Add(11 * time.Minute)); n != 2 {
		t.Errorf("Expire after the window = %d, want 2", n)
	}
	if a := mustAccount(t, l, 1); a.Committed != 0 || a.Billed != 200 || a.Expired != 2 {
		t.Errorf("Account = %+v, want committed 0, billed 200, 2 expired", a)
	}
	// The report of an expired reservation is not billable, nor is a duplicate of a billed
	// one; both are still recognised within the retention, and unknown after it.
	at := t0.Add(15 * time.Minute)
	if err := l.Confirm(rs[1], 300, at); err != ErrLate {
		t.Errorf("Confirm after expiry = %v, want ErrLate", err)
	}
	if err := l.Confirm(rs[0], 200, at); err != ErrDuplicateReport {
		t.Errorf("duplicate Confirm in the retention = %v, want ErrDuplicateReport", err)
	}
	l.Expire(t0.Add(21 * time.Minute))
	for _, r := range rs {
		if err := l.Confirm(r, 300, t0.Add(21*time.Minute)); err != ErrUnknownReservation {
			t.Errorf("Confirm after the retention = %v, want ErrUnknownReservation", err)
		}
	}
	if a := mustAccount(t, l, 1); a.Billed != 200 || a.Late != 1 {
		t.Errorf("Account = %+v, want billed 200, 1 late", a)
	}
	if _, err := l.Reserve(1, 9, 800, t0.Add(22*time.Minute)); err != nil {
		t.Errorf("Reserve of the freed budget = %v, want nil", err)
	}
}

// A report that arrives after the deadline but before any sweep is late all the same,
// and its reservation goes back to the budget.
func TestConfirmAfterDeadlineWithoutSweep(t *testing.T) {
	l := newTestLedger(t, ReserveAtDecision, map[int64]Micros{1: 1000})
	r := mustReserve(t, l, 1, 500, t0)
	if err := l.Confirm(r, 400, t0.Add(10*time.Minute+time.Nanosecond)); err != ErrLate {
		t.Errorf("Confirm past the deadline = %v, want ErrLate", err)
	}
	if a := mustAccount(t, l, 1); a.Committed != 0 || a.Billed != 0 || a.Expired != 1 || a.Late != 1 {
		t.Errorf("Account = %+v, want nothing committed or billed, 1 expired, 1 late", a)
	}
	if n := l.Expire(t0.Add(time.Hour)); n != 0 {
		t.Errorf("Expire = %d, want 0 (already expired)", n)
	}
	if a := mustAccount(t, l, 1); a.Committed != 0 || a.Expired != 1 {
		t.Errorf("after Expire: %+v, want committed 0 and still 1 expired", a)
	}
}

func TestBudgetChanges(t *testing.T) {
	l := newTestLedger(t, ReserveAtDecision, map[int64]Micros{1: 1000})
	steps := []struct {
		name   string
		change func() error
		amount Micros
		want   error
	}{
		{"within budget", nil, 600, nil},
		{"over budget", nil, 500, ErrExhausted},
		{"after a raise", func() error { return l.SetBudget(1, 1100) }, 500, nil},
		{"after a cut below commitments", func() error { return l.SetBudget(1, 800) }, 1, ErrExhausted},
		{"paused", func() error { return l.Pause(1) }, 1, ErrPaused},
		{"raised while paused", func() error { return l.SetBudget(1, 5000) }, 1, ErrPaused},
		{"resumed", func() error { return l.Resume(1) }, 1000, nil},
		{"budget to zero", func() error { return l.SetBudget(1, 0) }, 1, ErrExhausted},
	}
	for i, s := range steps {
		if s.change != nil {
			if err := s.change(); err != nil {
				t.Fatalf("%s: change = %v", s.name, err)
			}
		}
		if _, err := l.Reserve(1, uint64(i), s.amount, t0); err != s.want {
			t.Errorf("%s: Reserve(%v) = %v, want %v", s.name, s.amount, err, s.want)
		}
	}
	for i, bad := range []func() error{
		func() error { return l.SetBudget(1, -1) },
		func() error { return l.Pause(99) },
		func() error { return l.Resume(99) },
	} {
		if err := bad(); err == nil {
			t.Errorf("invalid change %d accepted", i)
		}
	}
	if got := l.Campaigns(nil); len(got) != 1 || got[0] != 1 {
		t.Errorf("Campaigns = %v, want [1]", got)
	}
}

// Counting spend only when reports arrive lets in-flight impressions pile up past the
// budget; reserving at decision time does not.
func TestCountOnReportOverspendsWithLateReports(t *testing.T) {
	tests := []struct {
		mode                 Mode
		wantReserved         int
		wantBilled, wantUsed Micros
	}{
		{ReserveAtDecision, 10, 1000, 1000},
		{CountOnReport, 20, 2000, 2000},
	}
	for _, tt := range tests {
		l := newTestLedger(t, tt.mode, map[int64]Micros{1: 1000})
		var ok []Reservation
		for i := range 20 { // 20 wins, every report still in flight
			if r, err := l.Reserve(1, uint64(i), 100, t0.Add(time.Duration(i)*time.Second)); err == nil {
				ok = append(ok, r)
			}
		}
		for _, r := range ok { // the reports arrive 3 minutes later
			if err := l.Confirm(r, 100, t0.Add(3*time.Minute)); err != nil {
				t.Errorf("%v: Confirm(%d) = %v", tt.mode, r, err)
			}
		}
		a := mustAccount(t, l, 1)
		_, used, _ := l.Spent(1)
		if len(ok) != tt.wantReserved || a.Billed != tt.wantBilled || used != tt.wantUsed {
			t.Errorf("%v: %d reserved, billed %v, spent %v; want %d, %v, %v",
				tt.mode, len(ok), a.Billed, used, tt.wantReserved, tt.wantBilled, tt.wantUsed)
		}
	}
}

// The reservation table forgets settled reservations: a day of traffic keeps it at the
// size of a window and a retention, not the day.
func TestReservationTableStaysBounded(t *testing.T) {
	l := newTestLedger(t, ReserveAtDecision, map[int64]Micros{1: 1 << 50})
	for i := range 100_000 {
		now := t0.Add(time.Duration(i) * 100 * time.Millisecond) // 2.8 hours
		r, err := l.Reserve(1, uint64(i), 10, now)
		if err != nil {
			t.Fatalf("Reserve #%d = %v", i, err)
		}
		if i%2 == 0 {
			_ = l.Release(r)
		}
	}
	held := 0
	for i := range l.shards {
		held += len(l.shards[i].queue)
	}
	// 20 minutes (window + retention) at 10 reservations a second, plus up to as much
	// again not compacted yet.
	if held > 25_000 {
		t.Errorf("%d reservations held after 2.8 hours, want ≤ 25,000 (20 minutes' worth, twice)", held)
	}
	if a := mustAccount(t, l, 1); a.Expired < 40_000 {
		t.Errorf("%d expired, want ≥ 40,000 (every unreleased reservation older than the window)", a.Expired)
	}
}

func TestLedgerConfigValidate(t *testing.T) {
	ok := DefaultLedgerConfig()
	tests := []struct {
		mutate func(*LedgerConfig)
		valid  bool
	}{
		{func(*LedgerConfig) {}, true},
		{func(c *LedgerConfig) { c.Mode = CountOnReport }, true},
		{func(c *LedgerConfig) { c.Mode = 7 }, false},
		{func(c *LedgerConfig) { c.Window = 0 }, false},
		{func(c *LedgerConfig) { c.Retention = -1 }, false},
		{func(c *LedgerConfig) { c.Shards = 0 }, false},
		{func(c *LedgerConfig) { c.Shards = 12 }, false},
		{func(c *LedgerConfig) { c.Shards = 2048 }, false},
		{func(c *LedgerConfig) { c.Shards = 1 }, true},
	}
	for i, tt := range tests {
		c := ok
		tt.mutate(&c)
		if err := c.Validate(); (err == nil) != tt.valid || (err != nil && !errors.Is(err, ErrConfig)) {
			t.Errorf("case %d: Validate(%+v) = %v, want valid %v", i, c, err, tt.valid)
		}
	}
}

func TestMicros(t *testing.T) {
	tests := []struct {
		d           float64
		round, ceil Micros
	}{
		{0.0123451, 12345, 12346},
		{1, Dollar, Dollar},
		{0, 0, 0},
	}
	for _, tt := range tests {
		if got := FromDollars(tt.d); got != tt.round {
			t.Errorf("FromDollars(%v) = %d, want %d", tt.d, got, tt.round)
		}
		if got := CeilMicros(tt.d); got != tt.ceil {
			t.Errorf("CeilMicros(%v) = %d, want %d", tt.d, got, tt.ceil)
		}
	}
	if got := Micros(1_500_000).Dollars(); got != 1.5 {
		t.Errorf("Micros(1500000).Dollars() = %v, want 1.5", got)
	}
}

// TestOtherLedgersReservationsUnknown: two ledgers with the same campaigns and the same
// request stream (two instances on one impression stream, or a process and its restart)
// issue reservations that the other does not recognise, so a report meant for one never
// bills the other.
func TestOtherLedgersReservationsUnknown(t *testing.T) {
	budgets := map[int64]Micros{1: FromDollars(1000), 2: FromDollars(1000)}
	a, b := newTestLedger(t, ReserveAtDecision, budgets), newTestLedger(t, ReserveAtDecision, budgets)
	var fromA []Reservation
	for i := range 500 {
		r := mustReserve(t, a, int64(1+i%2), FromDollars(0.01), t0)
		mustReserve(t, b, int64(1+i%2), FromDollars(0.01), t0)
		fromA = append(fromA, r)
	}
	for _, r := range fromA {
		if err := b.Confirm(r, FromDollars(0.01), t0.Add(time.Second)); !errors.Is(err, ErrUnknownReservation) {
			t.Fatalf("ledger b confirmed ledger a's reservation %d: %v, want ErrUnknownReservation", r, err)
		}
	}
	for id := range budgets {
		if acc := mustAccount(t, b, id); acc.Billed != 0 || acc.Confirmed != 0 {
			t.Errorf("ledger b, campaign %d: billed %v in %d reports, want nothing", id, acc.Billed, acc.Confirmed)
		}
	}
	for _, r := range fromA {
		if err := a.Confirm(r, FromDollars(0.01), t0.Add(time.Second)); err != nil {
			t.Fatalf("ledger a could not confirm its own reservation %d: %v", r, err)
		}
	}
}
