package check

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// service is the part of a compose service this test reads; the rest of the file is
// decoded too (yaml.UnmarshalStrict), so an unknown key is an error.
type service struct {
	Image       string            `json:"image"`
	Command     []string          `json:"command"`
	Environment map[string]string `json:"environment"`
	Ports       []string          `json:"ports"`
	Volumes     []string          `json:"volumes"`
	Healthcheck *struct {
		Test        []string `json:"test"`
		Interval    string   `json:"interval"`
		Timeout     string   `json:"timeout"`
		Retries     int      `json:"retries"`
		StartPeriod string   `json:"start_period"`
	} `json:"healthcheck"`
	DependsOn []string `json:"depends_on"`
	Profiles  []string `json:"profiles"`
	Restart   string   `json:"restart"`
}

type composeFile struct {
	Name     string                    `json:"name"`
	Services map[string]service        `json:"services"`
	Volumes  map[string]map[string]any `json:"volumes"`
	XNATS    map[string]any            `json:"x-nats"`
	XAppEnv  map[string]string         `json:"x-app-env"`
	XHealth  map[string]any            `json:"x-healthcheck"`
}

// builtImages reads deploy/images/build.sh: the images `make images` builds.
func builtImages(t *testing.T) (servers []string, apps []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "images", "build.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^[A-Z]+_IMAGE="([^"]+)"`).FindAllSubmatch(b, -1) {
		servers = append(servers, string(m[1]))
	}
	m := regexp.MustCompile(`(?m)^APP_BINARIES=\(([^)]*)\)`).FindSubmatch(b)
	if m == nil || len(servers) < 3 {
		t.Fatalf("build.sh: found images %v and no APP_BINARIES=(...) line", servers)
	}
	for _, a := range strings.Fields(string(m[1])) {
		apps = append(apps, "casebook/"+a+":local")
	}
	return servers, apps
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		t.Fatalf("deploy/compose.yaml: %v", err)
	}
	return c
}

// flagValue is the value after flag in args (or in flag=value form).
func flagValue(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}

// metricsPort is the port a Casebook service serves /metrics on: mlp serve, recsys and
// adsranking on --addr, fraud stream and mlp monitor on --metrics, Prometheus on
// --web.listen-address.
func metricsPort(s service) (int, bool) {
	for _, f := range []string{"--metrics", "--addr", "--web.listen-address"} {
		if v := flagValue(s.Command, f); v != "" {
			_, p, err := net.SplitHostPort(v)
			if err != nil {
				return 0, false
			}
			n, err := strconv.Atoi(p)
			return n, err == nil
		}
	}
	return 0, false
}

func TestCompose(t *testing.T) {
	c := loadCompose(t)
	servers, apps := builtImages(t)
	root := repoRoot(t)
	long := map[string]bool{} // services running a long-lived Casebook server
	for name, s := range c.Services {
		switch {
		case slices.Contains(servers, s.Image) || slices.Contains(apps, s.Image):
		case name == "grafana" && slices.Contains(s.Profiles, "grafana"):
			// The one pulled image, behind its profile so that `make stack` runs offline.
		default:
			t.Errorf("service %s runs image %q, which make images does not build (builds %v and %v)", name, s.Image, servers, apps)
		}
		for _, d := range s.DependsOn {
			if _, ok := c.Services[d]; !ok {
				t.Errorf("service %s depends on %s, which is not a service", name, d)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join(root, "deploy", src)); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("service %s mounts volume %s, which the file does not declare", name, src)
			}
		}
		if slices.Contains(apps, s.Image) && name != "loadgen" {
			long[name] = true
			if s.Healthcheck == nil {
				t.Errorf("service %s has no healthcheck", name)
			}
			if s.Environment["CASEBOOK_PII_KEY"] == "" {
				t.Errorf("service %s has no CASEBOOK_PII_KEY (a run on NATS or Redis refuses to start without one)", name)
			}
		}
	}
	// The images' HEALTHCHECK asks each binary's default port: a service that keeps the
	// image's check must listen there.
	eps, _ := health(t)
	for name, ep := range eps {
		s, ok := c.Services[name]
		if !ok {
			t.Errorf("no compose service %s", name)
			continue
		}
		if p, ok := metricsPort(s); !ok || p != ep.port {
			t.Errorf("service %s listens on %d; its image's HEALTHCHECK (%s healthcheck) asks port %d", name, p, ep.binary, ep.port)
		}
	}

	// NATS: three JetStream nodes with distinct names, one cluster name, and routes to
	// the other two.
	var nats []string
	for name := range c.Services {
		if strings.HasPrefix(name, "nats-") {
			nats = append(nats, name)
		}
	}
	slices.Sort(nats)
	if len(nats) != 3 {
		t.Fatalf("NATS services %v, want nats-1..3", nats)
	}
	for _, n := range nats {
		cmd := c.Services[n].Command
		if flagValue(cmd, "--name") != n || !slices.Contains(cmd, "-js") || flagValue(cmd, "--cluster_name") != "casebook" {
			t.Errorf("%s command %v: want --name %s, -js and --cluster_name casebook", n, cmd, n)
		}
		routes := flagValue(cmd, "--routes")
		for _, other := range nats {
			if other != n && !strings.Contains(routes, "nats://"+other+":6222") {
				t.Errorf("%s routes %q lack %s", n, routes, other)
			}
		}
	}

	// Prometheus: every target a service with a metrics port, every long-running service
	// scraped, and the alert rules loaded.
	b, err := os.ReadFile(filepath.Join(root, "deploy", "prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var prom struct {
		Global        map[string]string `json:"global"`
		RuleFiles     []string          `json:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `json:"job_name"`
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	if err := yaml.UnmarshalStrict(b, &prom); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	if !slices.Contains(prom.RuleFiles, "alerts.yaml") || !slices.ContainsFunc(c.Services["prometheus"].Volumes, func(v string) bool {
		return strings.HasPrefix(v, "./prometheus/alerts.yaml:/etc/prometheus/alerts.yaml")
	}) {
		t.Errorf("Prometheus must load alerts.yaml (rule_files %v) mounted beside its config", prom.RuleFiles)
	}
	scraped := map[string]bool{}
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, port, err := net.SplitHostPort(target)
				if err != nil {
					t.Errorf("job %s: target %q: %v", sc.JobName, target, err)
					continue
				}
				if host == "localhost" && sc.JobName == "prometheus" {
					host = "prometheus"
				}
				s, ok := c.Services[host]
				if !ok {
					t.Errorf("job %s scrapes %s, which is not a compose service", sc.JobName, host)
					continue
				}
				if p, ok := metricsPort(s); !ok || strconv.Itoa(p) != port {
					t.Errorf("job %s scrapes %s:%s, but the service serves /metrics on %d", sc.JobName, host, port, p)
				}
				scraped[host] = true
			}
		}
	}
	for name := range long {
		if !scraped[name] {
			t.Errorf("service %s is not scraped by Prometheus", name)
		}
	}
}
