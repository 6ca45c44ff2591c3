package casestudy

import (
	"fmt"
	"strings"

	"github.com/casebook-ml/casebook/platform/ml"
)

// PublicBounds are the ranges DP training (ml.TrainDPLogReg) clamps each of the handbook's
// features (txfeatures.Names) into, set from the simulator's design and not from the data:
// customers spend on average 5 to 100 per transaction (compromised cards up to 5 times
// more) and make at most 4 transactions a day on average; terminal risks are fractions.
func PublicBounds(names []string) ([]ml.Bound, error) {
	out := make([]ml.Bound, len(names))
	for i, n := range names {
		var hi float64
		switch {
		case n == "TX_AMOUNT":
			hi = 500
		case n == "TX_DURING_WEEKEND", n == "TX_DURING_NIGHT", strings.HasPrefix(n, "TERMINAL_ID_RISK_"):
			hi = 1
		case strings.HasPrefix(n, "CUSTOMER_ID_AVG_AMOUNT_"):
			hi = 300
		case strings.HasPrefix(n, "CUSTOMER_ID_NB_TX_"), strings.HasPrefix(n, "TERMINAL_ID_NB_TX_"):
			var days int
			if _, err := fmt.Sscanf(n[strings.LastIndex(n, "_TX_")+4:], "%dDAY_WINDOW", &days); err != nil {
				return nil, fmt.Errorf("bounds for %s: %w", n, err)
			}
			hi = 10 * float64(days) // 10 a day: well above the simulator's busiest card or terminal
		default:
			return nil, fmt.Errorf("no public bound for feature %s", n)
		}
		out[i] = ml.Bound{Lo: 0, Hi: hi}
	}
	return out, nil
}
