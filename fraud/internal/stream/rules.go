package stream

import (
	"fmt"
	"slices"

	"github.com/casebook-ml/casebook/fraud/internal/decision"
)

// The features the fallback rules read, by name in the feature vector.
const (
	customerTx1dName   = "CUSTOMER_ID_NB_TX_1DAY_WINDOW"
	terminalTx7dName   = "TERMINAL_ID_NB_TX_7DAY_WINDOW"
	terminalRisk7dName = "TERMINAL_ID_RISK_7DAY_WINDOW"
)

// ruleInputs are the positions of the rules' features in a vector, looked up by name in
// the vector's schema when the scorer is built: a reordered view moves them with it
// instead of having the rules read a neighbour.
type ruleInputs struct{ customerTx1d, terminalTx7d, terminalRisk7d int }

func ruleInputsOf(names []string) (ruleInputs, error) {
	var r ruleInputs
	for _, f := range []struct {
		name string
		at   *int
	}{{customerTx1dName, &r.customerTx1d}, {terminalTx7dName, &r.terminalTx7d}, {terminalRisk7dName, &r.terminalRisk7d}} {
		if *f.at = slices.Index(names, f.name); *f.at < 0 {
			return r, fmt.Errorf("the rules read %s, which the feature vector %v lacks", f.name, names)
		}
	}
	return r, nil
}

// read is what the rules see of a transaction of this amount whose vector is v.
func (r ruleInputs) read(amount float64, v []float64) decision.Features {
	return decision.Features{Amount: amount, HaveFeatures: true,
		CustomerNbTx1d: v[r.customerTx1d], TerminalNbTx7d: v[r.terminalTx7d], TerminalRisk7d: v[r.terminalRisk7d]}
}
