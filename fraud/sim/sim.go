// Package sim is the transaction simulator of chapter 3 of the Reproducible Machine Learning
// for Credit Card Fraud Detection handbook (Le Borgne, Siblini, Lebichot, Bontempi),
// reimplemented in Go with the handbook's parameters, and the CSV layout the handbook's
// datasets use, so simulated, published or real transactions can be replayed through the
// fraud case study.
//
// The generator follows the handbook's algorithm step by step; it does not reproduce
// numpy's random streams, so the transactions differ from the handbook's pickles while
// their distributions are the same. It is deterministic under Config.Seed.
package sim

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Transaction is one row of the handbook's transaction table.
type Transaction struct {
	ID       int64     // TRANSACTION_ID: position in time order, from 0
	Time     time.Time // TX_DATETIME, UTC
	Customer int       // CUSTOMER_ID
	Terminal int       // TERMINAL_ID
	Amount   float64   // TX_AMOUNT, rounded to cents
	Seconds  int64     // TX_TIME_SECONDS since the start of day 0
	Day      int       // TX_TIME_DAYS
	Fraud    bool      // TX_FRAUD
	Scenario int       // TX_FRAUD_SCENARIO: 0 genuine, 1 large amount, 2 compromised terminal, 3 compromised customer
}

// Customer is a customer profile.
type Customer struct {
	ID                int
	X, Y              float64
	MeanAmount        float64
	StdAmount         float64
	MeanTxPerDay      float64
	AvailableTerminal []int
}

// Terminal is a terminal profile.
type Terminal struct {
	ID   int
	X, Y float64
}

// Compromise records that an entity (terminal or customer) was compromised from day From
// (inclusive) to day Until (exclusive).
type Compromise struct {
	ID          int
	From, Until int
}

// Dataset is a simulation's output: the transactions in time order and the ground truth of
// what was compromised.
type Dataset struct {
	Customers            []Customer
	Terminals            []Terminal
	Transactions         []Transaction
	CompromisedTerminals []Compromise
	CompromisedCustomers []Compromise
}

// Config sets the simulation's size and the handbook's parameters.
type Config struct {
	Seed      uint64
	Customers int
	Terminals int
	Days      int
	Start     time.Time // midnight UTC of day 0
	// Radius: a customer uses the terminals strictly within this distance.
	Radius float64
	// LargeAmount: scenario 1 marks every amount above it.
	LargeAmount float64
	// TerminalsPerDay are compromised each day for TerminalDays days (scenario 2).
	TerminalsPerDay, TerminalDays int
	// CustomersPerDay are compromised each day for CustomerDays days (scenario 3); a third
	// of their transactions in that period are multiplied by AmountFactor.
	CustomersPerDay, CustomerDays int
	AmountFactor                  float64
}

// DefaultConfig is the handbook's default: 5,000 customers, 10,000 terminals, 183 days
// from 2018-04-01, about 1.75 million transactions.
func DefaultConfig() Config {
	return Config{
		Seed: 0, Customers: 5000, Terminals: 10000, Days: 183,
		Start:  time.Date(2018, 4, 1, 0, 0, 0, 0, time.UTC),
		Radius: 5, LargeAmount: 220,
		TerminalsPerDay: 2, TerminalDays: 28,
		CustomersPerDay: 3, CustomerDays: 14, AmountFactor: 5,
	}
}

// Validate names every invalid field.
func (c Config) Validate() error {
	var bad []string
	if c.Customers < 1 {
		bad = append(bad, fmt.Sprintf("customers %d < 1", c.Customers))
	}
	if c.Terminals < 1 {
		bad = append(bad, fmt.Sprintf("terminals %d < 1", c.Terminals))
	}
	if c.Days < 1 {
		bad = append(bad, fmt.Sprintf("days %d < 1", c.Days))
	}
	if c.Radius <= 0 {
		bad = append(bad, fmt.Sprintf("radius %v <= 0", c.Radius))
	}
	if c.TerminalsPerDay < 0 || c.TerminalsPerDay > c.Terminals {
		bad = append(bad, fmt.Sprintf("terminals per day %d not in [0, %d]", c.TerminalsPerDay, c.Terminals))
	}
	if c.CustomersPerDay < 0 || c.CustomersPerDay > c.Customers {
		bad = append(bad, fmt.Sprintf("customers per day %d not in [0, %d]", c.CustomersPerDay, c.Customers))
	}
	if c.TerminalDays < 0 || c.CustomerDays < 0 {
		bad = append(bad, "compromise durations must be >= 0")
	}
	if c.AmountFactor <= 0 {
		bad = append(bad, fmt.Sprintf("amount factor %v <= 0", c.AmountFactor))
	}
	if !c.Start.Equal(c.Start.Truncate(24 * time.Hour)) {
		bad = append(bad, fmt.Sprintf("start %v is not midnight UTC", c.Start))
	}
	if len(bad) > 0 {
		return fmt.Errorf("sim config: %v", bad)
	}
	return nil
}

// Stream identifiers keep every random draw independent of the others, so a customer's
// transactions do not change when the number of terminals or days changes the draws made
// before them.
const (
	streamCustomers = 1 << 32
	streamTerminals = 2 << 32
	streamTx        = 3 << 32
	streamScenario2 = 4 << 32
	streamScenario3 = 5 << 32
)

func newRand(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream^0x9e3779b97f4a7c15))
}

// Generate runs the simulation. It checks ctx between customers.
func Generate(ctx context.Context, cfg Config) (*Dataset, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Dataset{Customers: customerProfiles(cfg), Terminals: terminalProfiles(cfg)}
	assignTerminals(d.Customers, d.Terminals, cfg.Radius)
	txs, err := genuineTransactions(ctx, cfg, d.Customers)
	if err != nil {
		return nil, err
	}
	d.Transactions = txs
	d.addFrauds(cfg)
	return d, nil
}

func customerProfiles(cfg Config) []Customer {
	rng := newRand(cfg.Seed, streamCustomers)
	cs := make([]Customer, cfg.Customers)
	for i := range cs {
		c := &cs[i]
		c.ID = i
		c.X = rng.Float64() * 100
		c.Y = rng.Float64() * 100
		c.MeanAmount = 5 + rng.Float64()*95
		c.StdAmount = c.MeanAmount / 2
		c.MeanTxPerDay = rng.Float64() * 4
	}
	return cs
}

func terminalProfiles(cfg Config) []Terminal {
	rng := newRand(cfg.Seed, streamTerminals)
	ts := make([]Terminal, cfg.Terminals)
	for i := range ts {
		ts[i] = Terminal{ID: i, X: rng.Float64() * 100, Y: rng.Float64() * 100}
	}
	return ts
}

// assignTerminals gives each customer the terminals strictly within r, in ID order. A grid
// of r-sized cells keeps this linear rather than customers × terminals.
func assignTerminals(cs []Customer, ts []Terminal, r float64) {
	cells := map[[2]int][]int{}
	cell := func(x, y float64) [2]int { return [2]int{int(math.Floor(x / r)), int(math.Floor(y / r))} }
	for _, t := range ts {
		k := cell(t.X, t.Y)
		cells[k] = append(cells[k], t.ID)
	}
	for i := range cs {
		c := &cs[i]
		k := cell(c.X, c.Y)
		var av []int
		for dx := -1; dx <= 1; dx++ {
			for dy := -1; dy <= 1; dy++ {
				for _, id := range cells[[2]int{k[0] + dx, k[1] + dy}] {
					t := ts[id]
					if math.Hypot(t.X-c.X, t.Y-c.Y) < r {
						av = append(av, id)
					}
				}
			}
		}
		slices.Sort(av)
		c.AvailableTerminal = av
	}
}

// poisson draws from Poisson(lambda) by Knuth's method, exact and fast for lambda <= 4.
func poisson(rng *rand.Rand, lambda float64) int {
	l := math.Exp(-lambda)
	k, p := 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func roundCents(a float64) float64 { return math.Round(a*100) / 100 }

const daySeconds = 86400

// genuineTransactions draws each customer's transactions day by day as the handbook does,
// then orders them by time (ties by customer, then draw order) and numbers them.
func genuineTransactions(ctx context.Context, cfg Config, cs []Customer) ([]Transaction, error) {
	var txs []Transaction
	for _, c := range cs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("generate transactions: %w", err)
		}
		rng := newRand(cfg.Seed, streamTx|uint64(c.ID))
		for day := 0; day < cfg.Days; day++ {
			n := poisson(rng, c.MeanTxPerDay)
			for range n {
				// int() in the handbook truncates toward zero; draws outside (0, 86400) are discarded.
				tod := int64(rng.NormFloat64()*20000 + daySeconds/2)
				if tod <= 0 || tod >= daySeconds {
					continue
				}
				amount := rng.NormFloat64()*c.StdAmount + c.MeanAmount
				if amount < 0 {
					amount = rng.Float64() * 2 * c.MeanAmount
				}
				amount = roundCents(amount)
				if len(c.AvailableTerminal) == 0 {
					continue
				}
				term := c.AvailableTerminal[rng.IntN(len(c.AvailableTerminal))]
				secs := int64(day)*daySeconds + tod
				txs = append(txs, Transaction{
					Time: cfg.Start.Add(time.Duration(secs) * time.Second), Customer: c.ID, Terminal: term,
					Amount: amount, Seconds: secs, Day: day,
				})
			}
		}
	}
	// Customers were drawn in ID order, so a stable sort by time breaks ties by customer
	// and then by draw order.
	slices.SortStableFunc(txs, func(a, b Transaction) int { return cmp.Compare(a.Seconds, b.Seconds) })
	for i := range txs {
		txs[i].ID = int64(i)
	}
	return txs, nil
}

// addFrauds applies the handbook's three scenarios in order; a later one overwrites the
// scenario number of an earlier one.
func (d *Dataset) addFrauds(cfg Config) {
	txs := d.Transactions
	for i := range txs {
		if txs[i].Amount > cfg.LargeAmount {
			txs[i].Fraud, txs[i].Scenario = true, 1
		}
	}
	// The handbook loops over range(max TX_TIME_DAYS): every day but the last one seen.
	lastDay := 0
	if len(txs) > 0 {
		lastDay = txs[len(txs)-1].Day
	}
	// Index transactions by day once; both scenarios scan windows of days.
	byDay := make([][]int, cfg.Days)
	for i, t := range txs {
		byDay[t.Day] = append(byDay[t.Day], i)
	}
	for day := range lastDay {
		rng := newRand(cfg.Seed, streamScenario2|uint64(day))
		comp := sample(rng, cfg.Terminals, cfg.TerminalsPerDay)
		until := day + cfg.TerminalDays
		for _, id := range comp {
			d.CompromisedTerminals = append(d.CompromisedTerminals, Compromise{ID: id, From: day, Until: until})
		}
		for dd := day; dd < min(until, cfg.Days); dd++ {
			for _, i := range byDay[dd] {
				if slices.Contains(comp, txs[i].Terminal) {
					txs[i].Fraud, txs[i].Scenario = true, 2
				}
			}
		}
	}
	for day := range lastDay {
		rng := newRand(cfg.Seed, streamScenario3|uint64(day))
		comp := sample(rng, cfg.Customers, cfg.CustomersPerDay)
		until := day + cfg.CustomerDays
		for _, id := range comp {
			d.CompromisedCustomers = append(d.CompromisedCustomers, Compromise{ID: id, From: day, Until: until})
		}
		var in []int
		for dd := day; dd < min(until, cfg.Days); dd++ {
			for _, i := range byDay[dd] {
				if slices.Contains(comp, txs[i].Customer) {
					in = append(in, i)
				}
			}
		}
		for _, j := range sample(rng, len(in), len(in)/3) {
			t := &txs[in[j]]
			t.Amount = roundCents(t.Amount * cfg.AmountFactor)
			t.Fraud, t.Scenario = true, 3
		}
	}
}

// sample draws k distinct integers from [0, n) (a partial Fisher–Yates shuffle).
func sample(rng *rand.Rand, n, k int) []int {
	if k <= 0 {
		return nil
	}
	perm := make(map[int]int, k)
	get := func(i int) int {
		if v, ok := perm[i]; ok {
			return v
		}
		return i
	}
	out := make([]int, k)
	for i := range k {
		j := i + rng.IntN(n-i)
		out[i] = get(j)
		perm[j] = get(i)
	}
	return out
}
