package txfeatures

import (
	"fmt"
	"time"

	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/features"
)

// Names are the model's input features in the handbook's names and order.
var Names = func() []string {
	n := []string{"TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT"}
	for _, d := range WindowDays {
		n = append(n, fmt.Sprintf("CUSTOMER_ID_NB_TX_%dDAY_WINDOW", d), fmt.Sprintf("CUSTOMER_ID_AVG_AMOUNT_%dDAY_WINDOW", d))
	}
	for _, d := range WindowDays {
		n = append(n, fmt.Sprintf("TERMINAL_ID_NB_TX_%dDAY_WINDOW", d), fmt.Sprintf("TERMINAL_ID_RISK_%dDAY_WINDOW", d))
	}
	return n
}()

// columns maps a view feature ("view.feature", as Views names them) to its handbook column.
var columns = func() map[string]string {
	m := map[string]string{}
	for _, d := range WindowDays {
		m[fmt.Sprintf("%s.nb_tx_%dd", CustomerView, d)] = fmt.Sprintf("CUSTOMER_ID_NB_TX_%dDAY_WINDOW", d)
		m[fmt.Sprintf("%s.avg_amount_%dd", CustomerView, d)] = fmt.Sprintf("CUSTOMER_ID_AVG_AMOUNT_%dDAY_WINDOW", d)
		m[fmt.Sprintf("%s.nb_tx_%dd_delay7d", TerminalView, d)] = fmt.Sprintf("TERMINAL_ID_NB_TX_%dDAY_WINDOW", d)
		m[fmt.Sprintf("%s.risk_%dd_delay7d", TerminalView, d)] = fmt.Sprintf("TERMINAL_ID_RISK_%dDAY_WINDOW", d)
	}
	return m
}()

// columnOf is the handbook column of a view's feature, or "view.feature" for one the
// handbook does not have.
func columnOf(view, feature string) string {
	if c, ok := columns[view+"."+feature]; ok {
		return c
	}
	return view + "." + feature
}

// Width is len(Names).
const Width = 15

// Weekend reports whether t falls on a Saturday or Sunday (UTC), as the handbook's
// weekday() >= 5.
func Weekend(t time.Time) bool {
	wd := t.UTC().Weekday()
	return wd == time.Saturday || wd == time.Sunday
}

// Night reports whether t's hour (UTC) is at most 6, as the handbook's hour <= 6.
func Night(t time.Time) bool { return t.UTC().Hour() <= 6 }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Fill writes tx's vector into out (length Width) from the customer view's values and the
// terminal view's values as of the transaction, in the views' feature order. A null (an
// empty window's mean or ratio) becomes 0, as the handbook fills NaN with 0.
func Fill(out []float64, tx sim.Transaction, customer, terminal []features.Value) {
	out[0] = tx.Amount
	out[1] = b2f(Weekend(tx.Time))
	out[2] = b2f(Night(tx.Time))
	for i, v := range customer {
		out[3+i] = num(v)
	}
	for i, v := range terminal {
		out[9+i] = num(v)
	}
}

func num(v features.Value) float64 {
	switch v.Kind() {
	case features.KindInt:
		return float64(v.Int())
	case features.KindFloat:
		return v.Float()
	}
	return 0
}
