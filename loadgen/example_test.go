package loadgen_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/casebook-ml/casebook/loadgen"
	"github.com/casebook-ml/casebook/loadgen/httptarget"
	"github.com/casebook-ml/casebook/loadgen/loadgentest"
)

// cardTransactions is how an application plugs its own traffic into the engine: a Workload
// whose Next builds one request. The engine calls it from one goroutine, in schedule order.
type cardTransactions struct{ cards *loadgen.Zipf }

func (c cardTransactions) Next(rng *rand.Rand) loadgen.Request {
	card := strconv.Itoa(c.cards.Entity(rng)) // a few cards are used far more than the rest
	amount := strconv.FormatFloat(5+rng.ExpFloat64()*40, 'f', 2, 64)
	return loadgen.Request{Key: card, Body: []byte(`{"card":"` + card + `","amount":` + amount + `}`)}
}

func Example() {
	srv, _ := loadgentest.Start("127.0.0.1:0", loadgentest.TrivialHandler())
	defer srv.Close()

	tcfg := httptarget.DefaultConfig()
	tcfg.URL = srv.URL + "/score"
	target, err := httptarget.New(context.Background(), tcfg) // fails here if unreachable
	if err != nil {
		fmt.Println(err)
		return
	}
	defer target.Close()

	cards, _ := loadgen.NewZipf("{{key}}", 10000, 1.1)
	cfg := loadgen.DefaultConfig()
	cfg.Schedule, _ = loadgen.ParseSchedule("poisson", 500, time.Second, false)
	cfg.Duration = 200 * time.Millisecond
	engine, err := loadgen.New(cfg, target, cardTransactions{cards: cards}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	report, err := engine.Run(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	slos, _ := loadgen.ParseSLOs([]string{"p99<1s", "errors<0.1%"})
	fmt.Println(report.Mode, report.Failed, report.CheckSLOs(slos))
	// Output: open 0 <nil>
}
