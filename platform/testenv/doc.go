// Package testenv gives integration tests a real Redis and a real NATS JetStream
// server through testcontainers-go.
//
// A test package starts the servers it needs once, from TestMain, and its tests
// ask the Env for addresses:
//
//	var env *testenv.Env
//
//	func TestMain(m *testing.M) {
//		os.Exit(testenv.Run(m, testenv.Services{NATS: true, Redis: true}, &env))
//	}
//
//	func TestSomething(t *testing.T) {
//		nc, err := nats.Connect(env.NATSURL(t)) // skips the test when no Docker engine answers
//		...
//	}
//
// When no Docker engine answers, Run prints one line to stderr and runs the tests
// anyway; every test that asks the Env for an address skips itself, and unit tests
// in the same package still run. With CI=true a missing engine is a failure
// instead, so a CI machine can never pass by skipping. A container that fails to
// start while Docker answers is always a failure.
//
// Benchmarks that want servers of their own use StartNATS and StartRedis.
//
// Configuration comes from environment variables only:
//
//	CASEBOOK_REDIS_IMAGE   Redis image (default redis:7-alpine)
//	CASEBOOK_NATS_IMAGE    NATS image (default nats:2-alpine)
//	CASEBOOK_TEST_NETWORK  "bridge" (default): ports mapped by Docker, as on a laptop;
//	                       "host": host networking, each server bound to a free
//	                       127.0.0.1 port picked by testenv (offline CI, whose Docker
//	                       engine runs with no bridge network)
//	CI                     "true" turns "no Docker engine" from a skip into a failure
//
// The images may be the official ones (pulled on first use) or the local ones that
// deploy/images/build.sh makes with no registry access; the server arguments testenv
// passes work with both, and readiness is detected from the server logs, because the
// local images have no shell. testcontainers-go's own variables apply as usual, for
// example DOCKER_HOST and TESTCONTAINERS_RYUK_DISABLED. docs/testing.md has the rest.
package testenv
