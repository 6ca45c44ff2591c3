// Command dockercheck prints one line saying whether the integration tests will get a
// Docker engine, so that `make test` says up front that they will run or why they will be
// skipped. It always exits 0: deciding that a missing engine is a failure (under CI=true) is
// testenv.Run's job.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/casebook-ml/casebook/platform/cli"
	"github.com/casebook-ml/casebook/platform/testenv"
)

func main() {
	if err := cli.Parse(flag.NewFlagSet("dockercheck", flag.ContinueOnError), "dockercheck\n  says whether the integration tests will get a Docker engine", os.Args[1:]); err != nil {
		os.Exit(cli.Exit("dockercheck", err, os.Stdout, os.Stderr))
	}
	// testcontainers-go greets every new client on stderr; one line is all this prints.
	tclog.SetDefault(tclog.NewNoopLogger())
	if err := testenv.Probe(context.Background()); err != nil {
		verdict := "SKIPPED"
		if os.Getenv("CI") == "true" {
			verdict = "FAILED (CI=true)"
		}
		fmt.Printf("integration tests will be %s: no Docker engine answered (%v); see docs/testing.md\n", verdict, err)
		return
	}
	fmt.Println("integration tests: a Docker engine answers; real Redis and NATS containers will start")
}
