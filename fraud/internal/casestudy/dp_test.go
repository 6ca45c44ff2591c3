package casestudy

import (
	"testing"

	"github.com/casebook-ml/casebook/fraud/internal/txfeatures"
)

func TestPublicBoundsCoverEveryFeature(t *testing.T) {
	b, err := PublicBounds(txfeatures.Names)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"TX_AMOUNT": 500, "TX_DURING_NIGHT": 1, "CUSTOMER_ID_NB_TX_7DAY_WINDOW": 70,
		"CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW": 300, "TERMINAL_ID_NB_TX_30DAY_WINDOW": 300, "TERMINAL_ID_RISK_1DAY_WINDOW": 1}
	for i, n := range txfeatures.Names {
		if w, ok := want[n]; ok && (b[i].Lo != 0 || b[i].Hi != w) {
			t.Errorf("PublicBounds[%s] = %v, want [0, %v]", n, b[i], w)
		}
	}
	if _, err := PublicBounds([]string{"CARD_AGE"}); err == nil {
		t.Error("PublicBounds(unknown feature) = nil error, want one")
	}
}
