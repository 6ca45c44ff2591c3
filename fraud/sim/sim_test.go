package sim

import (
	"context"
	"math"
	"testing"
	"time"
)

func smallConfig() Config {
	c := DefaultConfig()
	c.Customers, c.Terminals, c.Days = 200, 400, 30
	return c
}

func generate(t *testing.T, cfg Config) *Dataset {
	t.Helper()
	d, err := Generate(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Generate(%+v) = %v", cfg, err)
	}
	return d
}

func TestDeterministic(t *testing.T) {
	cfg := smallConfig()
	a, b := generate(t, cfg), generate(t, cfg)
	if len(a.Transactions) != len(b.Transactions) {
		t.Fatalf("two runs made %d and %d transactions", len(a.Transactions), len(b.Transactions))
	}
	for i := range a.Transactions {
		if a.Transactions[i] != b.Transactions[i] {
			t.Fatalf("transaction %d: %+v then %+v", i, a.Transactions[i], b.Transactions[i])
		}
	}
	cfg.Seed = 1
	c := generate(t, cfg)
	if len(c.Transactions) == len(a.Transactions) && c.Transactions[0] == a.Transactions[0] {
		t.Errorf("seed 1 made the same data as seed 0")
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"no customers", func(c *Config) { c.Customers = 0 }},
		{"no days", func(c *Config) { c.Days = 0 }},
		{"radius", func(c *Config) { c.Radius = 0 }},
		{"too many compromised terminals", func(c *Config) { c.TerminalsPerDay = c.Terminals + 1 }},
		{"start not midnight", func(c *Config) { c.Start = c.Start.Add(time.Hour) }},
	} {
		c := smallConfig()
		tc.mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate() = nil, want an error", tc.name)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("DefaultConfig().Validate() = %v, want nil", err)
	}
}

// The profiles follow the handbook's distributions.
func TestProfiles(t *testing.T) {
	cfg := DefaultConfig()
	cs, ts := customerProfiles(cfg), terminalProfiles(cfg)
	var sumMean, sumRate float64
	for _, c := range cs {
		if c.X < 0 || c.X >= 100 || c.Y < 0 || c.Y >= 100 || c.MeanAmount < 5 || c.MeanAmount >= 100 ||
			c.StdAmount != c.MeanAmount/2 || c.MeanTxPerDay < 0 || c.MeanTxPerDay >= 4 {
			t.Fatalf("customer %+v is outside the handbook's ranges", c)
		}
		sumMean += c.MeanAmount
		sumRate += c.MeanTxPerDay
	}
	n := float64(len(cs))
	// U(5,100) has mean 52.5 and sd 27.4; U(0,4) mean 2 and sd 1.15: 5 standard errors.
	if m := sumMean / n; math.Abs(m-52.5) > 5*27.4/math.Sqrt(n) {
		t.Errorf("mean of customers' mean amount = %.2f, want 52.5", m)
	}
	if m := sumRate / n; math.Abs(m-2) > 5*1.155/math.Sqrt(n) {
		t.Errorf("mean of customers' transactions per day = %.3f, want 2", m)
	}
	for _, tm := range ts {
		if tm.X < 0 || tm.X >= 100 || tm.Y < 0 || tm.Y >= 100 {
			t.Fatalf("terminal %+v outside [0,100)²", tm)
		}
	}
	// The grid lookup finds exactly the terminals strictly within r, by brute force.
	assignTerminals(cs[:300], ts, cfg.Radius)
	for _, c := range cs[:300] {
		var want []int
		for _, tm := range ts {
			if math.Hypot(tm.X-c.X, tm.Y-c.Y) < cfg.Radius {
				want = append(want, tm.ID)
			}
		}
		if len(want) != len(c.AvailableTerminal) {
			t.Fatalf("customer %d: %d available terminals, want %d", c.ID, len(c.AvailableTerminal), len(want))
		}
		for i := range want {
			if want[i] != c.AvailableTerminal[i] {
				t.Fatalf("customer %d: terminals %v, want %v", c.ID, c.AvailableTerminal, want)
			}
		}
	}
}

func TestTransactions(t *testing.T) {
	cfg := smallConfig()
	cfg.Customers, cfg.Terminals, cfg.Days = 1000, 2000, 60
	d := generate(t, cfg)
	txs := d.Transactions
	// Each customer-day is Poisson(λ) with λ ~ U(0,4), less the ~1.6% of times of day drawn
	// outside the day (P(|N(0,1)| > 43200/20000) = 3.1%, half of it on each side... both
	// sides are discarded) and customers with no terminal within r.
	var expect float64
	for _, c := range d.Customers {
		if len(c.AvailableTerminal) > 0 {
			expect += c.MeanTxPerDay * float64(cfg.Days) * (1 - 0.0308)
		}
	}
	if got := float64(len(txs)); math.Abs(got-expect) > 5*math.Sqrt(expect) {
		t.Errorf("%d transactions, want %.0f ± %.0f", len(txs), expect, 5*math.Sqrt(expect))
	}
	perDay := float64(len(txs)) / float64(cfg.Customers*cfg.Days)
	if math.Abs(perDay-2) > 0.15 {
		t.Errorf("transactions per customer-day = %.3f, want about 2 (mean of U(0,4))", perDay)
	}
	var sumTOD float64
	for i, tx := range txs {
		c := d.Customers[tx.Customer]
		tm := d.Terminals[tx.Terminal]
		if dist := math.Hypot(tm.X-c.X, tm.Y-c.Y); dist >= cfg.Radius {
			t.Fatalf("transaction %d: terminal at distance %.3f, want < %v", tx.ID, dist, cfg.Radius)
		}
		tod := tx.Seconds - int64(tx.Day)*daySeconds
		if tod <= 0 || tod >= daySeconds {
			t.Fatalf("transaction %d: time of day %d outside (0, 86400)", tx.ID, tod)
		}
		sumTOD += float64(tod)
		if !tx.Time.Equal(cfg.Start.Add(time.Duration(tx.Seconds) * time.Second)) {
			t.Fatalf("transaction %d: time %v, want start + %d s", tx.ID, tx.Time, tx.Seconds)
		}
		if tx.ID != int64(i) || (i > 0 && txs[i-1].Seconds > tx.Seconds) {
			t.Fatalf("transaction %d at position %d: not numbered in time order", tx.ID, i)
		}
		if tx.Amount < 0 || tx.Amount != roundCents(tx.Amount) {
			t.Fatalf("transaction %d: amount %v not non-negative cents", tx.ID, tx.Amount)
		}
	}
	// A truncated N(43200, 20000) symmetric about noon keeps its mean.
	if m := sumTOD / float64(len(txs)); math.Abs(m-43200) > 400 {
		t.Errorf("mean time of day = %.0f s, want 43200", m)
	}
}

func TestFraudScenarios(t *testing.T) {
	cfg := smallConfig()
	cfg.Customers, cfg.Terminals, cfg.Days = 500, 1000, 60
	d := generate(t, cfg)
	genuine, err := genuineTransactions(context.Background(), cfg, d.Customers)
	if err != nil {
		t.Fatal(err)
	}
	txs := d.Transactions
	counts := map[int]int{}
	for i, tx := range txs {
		counts[tx.Scenario]++
		if tx.Fraud != (tx.Scenario != 0) {
			t.Fatalf("transaction %d: fraud %v with scenario %d", tx.ID, tx.Fraud, tx.Scenario)
		}
		g := genuine[i]
		switch {
		case tx.Scenario == 3:
		case tx.Amount != g.Amount:
			t.Fatalf("transaction %d (scenario %d): amount %v, generated %v", tx.ID, tx.Scenario, tx.Amount, g.Amount)
		case tx.Scenario == 0 && g.Amount > cfg.LargeAmount:
			t.Fatalf("transaction %d: amount %v > %v is not fraud", tx.ID, g.Amount, cfg.LargeAmount)
		}
	}
	for s := 1; s <= 3; s++ {
		if counts[s] == 0 {
			t.Errorf("no transaction of scenario %d in %d", s, len(txs))
		}
	}
	// Scenario 2: every transaction on a compromised terminal in its 28 days is fraud.
	lastDay := txs[len(txs)-1].Day
	if len(d.CompromisedTerminals) != 2*lastDay || len(d.CompromisedCustomers) != 3*lastDay {
		t.Errorf("%d compromised terminals and %d customers over %d days, want 2 and 3 a day",
			len(d.CompromisedTerminals), len(d.CompromisedCustomers), lastDay)
	}
	for _, c := range d.CompromisedTerminals {
		if c.Until-c.From != 28 {
			t.Fatalf("terminal compromise %+v does not last 28 days", c)
		}
		for _, tx := range txs {
			if tx.Terminal == c.ID && tx.Day >= c.From && tx.Day < c.Until && !tx.Fraud {
				t.Fatalf("transaction %+v on terminal %d compromised %+v is not fraud", tx, c.ID, c)
			}
		}
	}
	// Scenario 3: as in the handbook, the day's 3 customers' transactions in the 14 days are
	// pooled and floor(n/3) of them drawn. For a day whose customers are compromised only
	// that once, exactly floor(n/3) are scenario 3, with 5× the generated amount, and none
	// of those customers' transactions outside the period is.
	times := map[int]int{}
	byDay := map[int][]Compromise{}
	for _, c := range d.CompromisedCustomers {
		times[c.ID]++
		byDay[c.From] = append(byDay[c.From], c)
	}
	checked := 0
	for day, cs := range byDay {
		once := true
		for _, c := range cs {
			once = once && times[c.ID] == 1
		}
		if !once {
			continue
		}
		n, s3 := 0, 0
		for i, tx := range txs {
			var c *Compromise
			for j := range cs {
				if cs[j].ID == tx.Customer {
					c = &cs[j]
				}
			}
			if c == nil {
				continue
			}
			in := tx.Day >= c.From && tx.Day < c.Until
			if in {
				n++
			}
			if tx.Scenario == 3 {
				if !in {
					t.Fatalf("transaction %+v is scenario 3 outside the compromise %+v", tx, c)
				}
				s3++
				if want := roundCents(genuine[i].Amount * 5); tx.Amount != want {
					t.Fatalf("transaction %d: amount %v, want 5 × %v = %v", tx.ID, tx.Amount, genuine[i].Amount, want)
				}
			}
		}
		if s3 != n/3 {
			t.Errorf("day %d compromises %+v: %d of %d transactions scenario 3, want %d", day, cs, s3, n, n/3)
		}
		checked++
	}
	if checked < 10 {
		t.Errorf("only %d days' customers were compromised exactly once", checked)
	}
}

func TestSample(t *testing.T) {
	rng := newRand(1, 1)
	for _, tc := range []struct{ n, k int }{{10, 0}, {10, 3}, {10, 10}, {1000, 2}} {
		got := sample(rng, tc.n, tc.k)
		seen := map[int]bool{}
		for _, v := range got {
			if v < 0 || v >= tc.n || seen[v] {
				t.Fatalf("sample(%d, %d) = %v, want %d distinct values in range", tc.n, tc.k, got, tc.k)
			}
			seen[v] = true
		}
		if len(got) != tc.k {
			t.Errorf("sample(%d, %d) has %d values, want %d", tc.n, tc.k, len(got), tc.k)
		}
	}
}
