package pacing

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// LedgerConfig sets how a Ledger counts spend and how long it remembers reservations.
type LedgerConfig struct {
	Mode Mode
	// Window is how long a reservation holds budget waiting for its impression report. A
	// report after the window is not billable (the budget went back to the campaign and
	// may have been spent again), so the window must cover nearly all report delays; it
	// also bounds how long a lost report keeps budget locked.
	Window time.Duration
	// Retention is how long a reservation is remembered after its window, so that a
	// repeated or very late report is recognised (duplicate or late) rather than unknown.
	// The table holds every reservation of the last Window+Retention, 32 bytes each.
	Retention time.Duration
	// Shards is the number of independently locked reservation tables, a power of two up
	// to 1024; more shards mean less lock contention between goroutines.
	Shards int
}

// DefaultLedgerConfig reserves at decision time with a 30-minute window.
func DefaultLedgerConfig() LedgerConfig {
	return LedgerConfig{Mode: ReserveAtDecision, Window: 30 * time.Minute, Retention: 30 * time.Minute, Shards: 64}
}

// Validate reports whether the configuration can be used.
func (c LedgerConfig) Validate() error {
	switch {
	case c.Mode != ReserveAtDecision && c.Mode != CountOnReport:
		return fmt.Errorf("%w: ledger mode %d", ErrConfig, int(c.Mode))
	case c.Window <= 0:
		return fmt.Errorf("%w: reservation window %v, want > 0", ErrConfig, c.Window)
	case c.Retention < 0:
		return fmt.Errorf("%w: retention %v, want ≥ 0", ErrConfig, c.Retention)
	case c.Shards < 1 || c.Shards > 1<<shardBits || c.Shards&(c.Shards-1) != 0:
		return fmt.Errorf("%w: %d shards, want a power of two up to %d", ErrConfig, c.Shards, 1<<shardBits)
	}
	return nil
}

// Ledger is one day's budgets and spend of every campaign. All methods are safe for
// concurrent use. Reserve, Confirm and Release take one short lock of one shard of the
// reservation table and update the campaign's counters with atomics; nothing on that path
// allocates or searches: a Reservation names its shard and its slot.
type Ledger struct {
	hold              bool  // ReserveAtDecision: a reservation holds its amount
	window, retention int64 // nanoseconds
	mode              Mode

	mu       sync.Mutex                         // serialises changes to the campaign set
	accounts atomic.Pointer[map[int64]*account] // copy on write: readers never lock
	shards   []shard
	mask     uint64
	unknown  atomic.Int64 // reports of reservations the ledger did not know
}

// account is one campaign's money. used is committed plus billed (in CountOnReport only
// billed) as one atomic, so the budget check and the commitment are one compare-and-swap.
type account struct {
	id     int64
	budget atomic.Int64
	used   atomic.Int64
	billed atomic.Int64
	paused atomic.Bool

	refused, confirmed, duplicates, released, expired, late atomic.Int64
	_                                                       [40]byte // keep hot accounts off each other's cache lines
}

// Reservation identifies one reservation: its shard and its sequence number there. The
// bidder carries it to the impression report (in the win or billing notice URL, as
// bidders do with their own data), and it is the report's idempotency key: a second
// report of the same reservation bills nothing. The zero value is never issued.
//
// Each ledger numbers its reservations from a random point of a 2^50 range per shard, so
// that a report carrying another ledger's reservation (another instance reading the same
// impression stream, or this process's predecessor before a restart) is unknown here and
// bills nothing, instead of settling an unrelated reservation that happens to share its
// number. Two ledgers' live ranges (the reservations of the last Window+Retention)
// overlap with probability about their length over 2^50.
type Reservation uint64

// shardBits is how many low bits of a Reservation name its shard.
const shardBits = 10

// Entry states.
const (
	pending uint8 = iota
	confirmed
	released
	expired
)

type entry struct {
	acct     *account
	max      Micros // the most the impression may bill; held against the budget in ReserveAtDecision
	deadline int64  // UnixNano after which the reservation has expired
	state    uint8
}

// shard is one lock's part of the reservation table: the entries in reservation order,
// the one with sequence number seq at queue[seq-base]. With a fixed window the order is
// (nearly) deadline order, so expiry walks the queue from expHead and forgetting from
// remHead, and neither ever searches.
type shard struct {
	mu               sync.Mutex
	queue            []entry
	base             uint64 // sequence number of queue[0]
	expHead, remHead int
	_                [64]byte
}

// NewLedger returns an empty ledger; add campaigns with SetBudget.
func NewLedger(cfg LedgerConfig) (*Ledger, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &Ledger{
		hold:      cfg.Mode == ReserveAtDecision,
		window:    int64(cfg.Window),
		retention: int64(cfg.Retention),
		mode:      cfg.Mode,
		shards:    make([]shard, cfg.Shards),
		mask:      uint64(cfg.Shards - 1),
	}
	for i := range l.shards {
		l.shards[i].base = 1 + rand.Uint64N(1<<50) // never 0; see Reservation
	}
	empty := map[int64]*account{}
	l.accounts.Store(&empty)
	return l, nil
}

// Mode reports how the ledger counts spend.
func (l *Ledger) Mode() Mode { return l.mode }

func (l *Ledger) account(campaign int64) *account { return (*l.accounts.Load())[campaign] }

// SetBudget sets a campaign's daily budget, adding the campaign if it is new. It takes
// effect on the next Reserve: a raise lets it spend again; a cut below what is already
// committed refuses every new reservation, but reservations already made may still bill
// (the impressions were bought).
func (l *Ledger) SetBudget(campaign int64, budget Micros) error {
	if budget < 0 {
		return fmt.Errorf("campaign %d budget %v: %w", campaign, budget, ErrAmount)
	}
	if a := l.account(campaign); a != nil {
		a.budget.Store(int64(budget))
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := *l.accounts.Load()
	if a := cur[campaign]; a != nil { // added meanwhile
		a.budget.Store(int64(budget))
		return nil
	}
	a := &account{id: campaign}
	a.budget.Store(int64(budget))
	next := maps.Clone(cur)
	next[campaign] = a
	l.accounts.Store(&next)
	return nil
}

// Pause stops a campaign from reserving until Resume; open reservations may still bill.
func (l *Ledger) Pause(campaign int64) error { return l.setPaused(campaign, true) }

// Resume lets a paused campaign reserve again.
func (l *Ledger) Resume(campaign int64) error { return l.setPaused(campaign, false) }

func (l *Ledger) setPaused(campaign int64, p bool) error {
	a := l.account(campaign)
	if a == nil {
		return fmt.Errorf("campaign %d: %w", campaign, ErrUnknownCampaign)
	}
	a.paused.Store(p)
	return nil
}

// Reserve commits maxCost of the campaign's budget for an impression the bidder is about
// to bid on. maxCost is the most the impression can be billed, which the bidder knows at
// auction time (in a second-price auction, its own bid). It fails, with the sentinel
// unwrapped, with ErrExhausted if committed plus billed spend plus maxCost would pass the
// budget, or ErrPaused, ErrUnknownCampaign or ErrAmount. request is any well-spread number
// (the request id): it only picks the shard, so that goroutines rarely share a lock. now
// is the decision time; the reservation expires Window after it.
func (l *Ledger) Reserve(campaign int64, request uint64, maxCost Micros, now time.Time) (Reservation, error) {
	if maxCost <= 0 {
		return 0, ErrAmount
	}
	a := l.account(campaign)
	if a == nil {
		return 0, ErrUnknownCampaign
	}
	if a.paused.Load() {
		a.refused.Add(1)
		return 0, ErrPaused
	}
	var hold Micros
	if l.hold {
		hold = maxCost
	}
	if !a.take(maxCost, hold) {
		a.refused.Add(1)
		return 0, ErrExhausted
	}
	t := now.UnixNano()
	i := mix(request) & l.mask
	s := &l.shards[i]
	s.mu.Lock()
	seq := s.base + uint64(len(s.queue))
	s.queue = append(s.queue, entry{acct: a, max: maxCost, deadline: t + l.window})
	l.sweep(s, t, 2) // a little housekeeping per call keeps the table bounded without a janitor
	s.mu.Unlock()
	return Reservation(seq<<shardBits | i), nil
}

// take commits hold if used+max fits the budget. In CountOnReport hold is 0 and the check
// is against billed spend only: the naive gate.
func (a *account) take(max, hold Micros) bool {
	budget := a.budget.Load()
	for {
		used := a.used.Load()
		if used+int64(max) > budget {
			return false
		}
		if hold == 0 || a.used.CompareAndSwap(used, used+int64(hold)) {
			return true
		}
	}
}

// held is what an entry holds against its campaign's budget.
func (l *Ledger) held(e *entry) int64 {
	if l.hold {
		return int64(e.max)
	}
	return 0
}

// lock finds and locks the reservation's shard and returns its entry, or nil (with the
// shard still locked) if the reservation was never issued or is forgotten.
func (l *Ledger) lock(r Reservation) (*shard, *entry) {
	i := uint64(r) & (1<<shardBits - 1)
	if i >= uint64(len(l.shards)) {
		return nil, nil
	}
	s := &l.shards[i]
	s.mu.Lock()
	seq := uint64(r) >> shardBits
	if seq < s.base || seq-s.base >= uint64(len(s.queue)) || int(seq-s.base) < s.remHead {
		return s, nil
	}
	return s, &s.queue[seq-s.base]
}

// Confirm bills a reserved impression at its actual cost, at most what was reserved
// (ErrExceedsReservation otherwise), and returns the unused rest of the reservation to the
// budget. A repeated report bills nothing (ErrDuplicateReport); nor does one that comes
// after the reservation expired or was released (ErrLate), nor one for a reservation the
// ledger never issued or has forgotten (ErrUnknownReservation). now is when the report
// arrived.
func (l *Ledger) Confirm(r Reservation, actual Micros, now time.Time) error {
	if actual < 0 {
		return ErrAmount
	}
	s, e := l.lock(r)
	if e == nil {
		if s != nil {
			s.mu.Unlock()
		}
		l.unknown.Add(1)
		return ErrUnknownReservation
	}
	a := e.acct
	switch {
	case e.state == confirmed:
		s.mu.Unlock()
		a.duplicates.Add(1)
		return ErrDuplicateReport
	case e.state != pending:
		s.mu.Unlock()
		a.late.Add(1)
		return ErrLate
	case now.UnixNano() > e.deadline: // expired; the sweep has not got to it yet
		e.state = expired
		a.used.Add(-l.held(e))
		s.mu.Unlock()
		a.expired.Add(1)
		a.late.Add(1)
		return ErrLate
	case actual > e.max:
		s.mu.Unlock()
		return ErrExceedsReservation
	}
	e.state = confirmed
	a.billed.Add(int64(actual))
	a.used.Add(int64(actual) - l.held(e))
	s.mu.Unlock()
	a.confirmed.Add(1)
	return nil
}

// Release returns a reservation whose impression will not happen (the auction was lost)
// to the budget. A report that still arrives for it is not billable.
func (l *Ledger) Release(r Reservation) error {
	s, e := l.lock(r)
	if e == nil {
		if s != nil {
			s.mu.Unlock()
		}
		return ErrUnknownReservation
	}
	switch e.state {
	case confirmed:
		s.mu.Unlock()
		return ErrDuplicateReport
	case released, expired:
		s.mu.Unlock()
		return ErrLate
	}
	e.state = released
	a := e.acct
	a.used.Add(-l.held(e))
	s.mu.Unlock()
	a.released.Add(1)
	return nil
}

// Expire releases every reservation whose window ended by now and forgets reservations
// past their retention. Reserve does a little of this on every call; a periodic Expire
// (the pacing control step is a good place) makes expiry prompt even for idle shards. It
// returns how many reservations expired.
func (l *Ledger) Expire(now time.Time) int {
	t := now.UnixNano()
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += l.sweep(s, t, -1)
		s.mu.Unlock()
	}
	return n
}

// sweep expires and forgets due entries at the front of the shard's queue, at most limit
// of each (limit < 0: all). The caller holds s.mu.
func (l *Ledger) sweep(s *shard, now int64, limit int) int {
	n := 0
	for steps := 0; s.expHead < len(s.queue) && steps != limit; steps++ {
		e := &s.queue[s.expHead]
		if e.deadline >= now {
			break
		}
		s.expHead++
		if e.state == pending {
			e.state = expired
			e.acct.used.Add(-l.held(e))
			e.acct.expired.Add(1)
			n++
		}
	}
	for steps := 0; s.remHead < s.expHead && steps != limit; steps++ {
		e := &s.queue[s.remHead]
		if e.deadline+l.retention >= now {
			break
		}
		*e = entry{} // drop the account pointer
		s.remHead++
	}
	// Compact once the forgotten prefix is half the queue: amortised O(1), and the backing
	// array is reused, so a steady stream of reservations allocates nothing.
	if s.remHead >= 64 && 2*s.remHead >= len(s.queue) {
		k := copy(s.queue, s.queue[s.remHead:])
		clear(s.queue[k:])
		s.queue = s.queue[:k]
		s.base += uint64(s.remHead)
		s.expHead -= s.remHead
		s.remHead = 0
	}
	return n
}

// Account is a snapshot of one campaign's books.
type Account struct {
	Campaign int64
	Budget   Micros
	// Committed is held by open reservations (always 0 in CountOnReport); Billed is what
	// confirmed impressions cost. Committed+Billed is the spend the budget check and the
	// pacers see.
	Committed, Billed Micros
	Paused            bool
	// Refused reservations (exhausted or paused); Confirmed, Duplicate and Late reports;
	// Released and Expired reservations.
	Refused, Confirmed, Duplicates, Late, Released, Expired int64
}

// Account returns a snapshot of the campaign's books. The counters are read one by one,
// so under concurrent traffic they are each current but not mutually consistent.
func (l *Ledger) Account(campaign int64) (Account, bool) {
	a := l.account(campaign)
	if a == nil {
		return Account{}, false
	}
	billed := Micros(a.billed.Load())
	used := Micros(a.used.Load())
	return Account{
		Campaign: campaign, Budget: Micros(a.budget.Load()),
		Committed: max(0, used-billed), Billed: billed, Paused: a.paused.Load(),
		Refused: a.refused.Load(), Confirmed: a.confirmed.Load(), Duplicates: a.duplicates.Load(),
		Late: a.late.Load(), Released: a.released.Load(), Expired: a.expired.Load(),
	}, true
}

// Available is what the campaign can still commit: budget minus committed and billed
// spend, 0 when paused or exhausted. It is a read, not a reservation.
func (l *Ledger) Available(campaign int64) Micros {
	a := l.account(campaign)
	if a == nil || a.paused.Load() {
		return 0
	}
	return max(0, Micros(a.budget.Load()-a.used.Load()))
}

// Spent reports the campaign's budget and the spend pacing counts: committed plus billed
// (in CountOnReport, billed only). It makes the Ledger a SpendSource.
func (l *Ledger) Spent(campaign int64) (budget, spent Micros, ok bool) {
	a := l.account(campaign)
	if a == nil {
		return 0, 0, false
	}
	return Micros(a.budget.Load()), Micros(a.used.Load()), true
}

// Campaigns appends the ledger's campaign ids to dst in increasing order.
func (l *Ledger) Campaigns(dst []int64) []int64 {
	m := *l.accounts.Load()
	start := len(dst)
	for id := range m {
		dst = append(dst, id)
	}
	slices.Sort(dst[start:])
	return dst
}

// UnknownReports counts reports of reservations the ledger never issued or had forgotten.
func (l *Ledger) UnknownReports() int64 { return l.unknown.Load() }
