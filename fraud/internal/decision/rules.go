package decision

import "fmt"

// Rules decide while the model path is down (the feature store or the model server does
// not answer). The degraded policy: decline only what is near-certain fraud (an amount
// above DeclineAmount), send to review what a fraud team's classic rules flag (a large
// amount, a terminal whose delayed fraud rate is high, a burst of a card's transactions),
// approve the rest. Declining more would block good customers for an outage that is not
// theirs; approving everything would open a window fraudsters learn to wait for.
type Rules struct {
	DeclineAmount float64 // decline above this
	ReviewAmount  float64 // review above this
	// TerminalRisk: review when the terminal's 7-day delayed fraud rate is at least this
	// (only when features could be read).
	TerminalRisk float64
	// CardBurst: review when the card made at least this many transactions in the last
	// day (only when features could be read).
	CardBurst float64
}

// DefaultRules suit the handbook's data: amounts above 220 are always fraud there.
func DefaultRules() Rules {
	return Rules{DeclineAmount: 220, ReviewAmount: 150, TerminalRisk: 0.3, CardBurst: 10}
}

// Features is what the rules may read: the amount always, the rest when the feature store
// answered.
type Features struct {
	Amount         float64
	HaveFeatures   bool
	TerminalRisk7d float64
	CustomerNbTx1d float64
	TerminalNbTx7d float64
}

// Decide returns the action and why.
func (r Rules) Decide(f Features) (Action, string) {
	switch {
	case f.Amount > r.DeclineAmount:
		return Decline, fmt.Sprintf("amount %.2f > %.2f", f.Amount, r.DeclineAmount)
	case f.Amount > r.ReviewAmount:
		return Review, fmt.Sprintf("amount %.2f > %.2f", f.Amount, r.ReviewAmount)
	case f.HaveFeatures && f.TerminalNbTx7d > 0 && f.TerminalRisk7d >= r.TerminalRisk:
		return Review, fmt.Sprintf("terminal 7-day fraud rate %.2f ≥ %.2f", f.TerminalRisk7d, r.TerminalRisk)
	case f.HaveFeatures && f.CustomerNbTx1d >= r.CardBurst:
		return Review, fmt.Sprintf("card made %.0f transactions in a day", f.CustomerNbTx1d)
	}
	if !f.HaveFeatures {
		return Approve, "no rule fired (features unavailable: amount rules only)"
	}
	return Approve, "no rule fired"
}
