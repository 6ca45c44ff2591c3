// Package pacing spreads each campaign's daily budget over the day and makes sure it is
// never overspent. It has two halves that the bidder calls per request, both without
// allocation and safe for many goroutines: Decide per candidate campaign (under 10 ns),
// Reserve and its settlement once per bid (about 100 ns together, one short shard lock):
//
//   - Ledger holds every campaign's budget and spend. Spend is counted twice, for two
//     purposes: at decision time the bidder reserves the most the impression can cost
//     (Reserve), which is what pacing and the budget check see, and at impression time the
//     report bills the actual price (Confirm), which is what the advertiser pays.
//     Committing at decision time is what keeps a campaign within budget when impression
//     reports arrive minutes late: the ledger refuses a reservation once committed plus
//     billed spend would pass the budget, so in-flight impressions can never add up to more
//     than what is left. Reserve returns a Reservation, which the bidder carries to the
//     report (in the notice URL); it is the report's idempotency key, so a duplicate
//     report bills once, and a reservation whose report never comes expires after a
//     window. The naive alternative, counting spend only when reports arrive
//     (CountOnReport), is kept for comparison; it overspends by whatever is in flight when
//     the budget runs out.
//   - A Pacer decides whether a campaign takes part in a request and how much of its value
//     it bids, so that cumulative spend follows a plan: the budget times the share of the
//     day's traffic expected so far (Diurnal), so even pacing follows traffic rather than
//     the clock. None never holds back (a campaign spends until its budget is gone, often
//     before the evening peak); Throttle skips a share of requests; PID lowers the bid.
//     Both are fed by the ledger's committed spend through a periodic Update.
//
// SimulateDay runs a day of diurnal traffic against an exogenous market to compare the
// strategies and the two ledger modes; SpendCharts and ControlCharts draw the results.
//
// Money is integer micros (Micros) so that sums are exact and the budget check is exact.
// A Ledger and its pacers cover one day; the bidder starts fresh ones at midnight.
package pacing

import (
	"fmt"
	"math"
)

// Micros is an amount of money in millionths of the account currency (USD in the case
// study): integers make the budget check exact and sums independent of order.
type Micros int64

// Dollar is one currency unit in Micros.
const Dollar Micros = 1_000_000

// FromDollars converts to Micros, rounding to the nearest micro.
func FromDollars(d float64) Micros { return Micros(math.Round(d * float64(Dollar))) }

// CeilMicros converts to Micros rounding up: what to reserve for a price that must fit,
// since a rounded-up reservation always covers the rounded actual price.
func CeilMicros(d float64) Micros { return Micros(math.Ceil(d * float64(Dollar))) }

// Dollars converts to currency units.
func (m Micros) Dollars() float64 { return float64(m) / float64(Dollar) }

func (m Micros) String() string { return fmt.Sprintf("$%.6f", m.Dollars()) }

// Mode is how the ledger counts spend against the budget.
type Mode int

const (
	// ReserveAtDecision commits the most an impression can cost when the bid is made and
	// settles it when the impression is reported: late reports cannot cause overspend.
	ReserveAtDecision Mode = iota
	// CountOnReport counts spend only when impression reports arrive, the naive way; it is
	// here to show the overspend late reports cause.
	CountOnReport
)

func (m Mode) String() string {
	switch m {
	case ReserveAtDecision:
		return "reserve at decision"
	case CountOnReport:
		return "count on report"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// mix is the splitmix64 finalizer: a cheap, well-mixed hash for coin flips that must be
// reproducible and need no shared random source.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// coin hashes (seed, a, b) to a uniform 64-bit value; independent across a and across b.
func coin(seed, a, b uint64) uint64 {
	return mix(mix(a^seed) ^ (b * 0x9e3779b97f4a7c15))
}

// unit maps a 64-bit hash to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }
