package check

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// objects is one overlay's build, decoded.
type objects struct {
	deployments  map[string]*appsv1.Deployment
	statefulSets map[string]*appsv1.StatefulSet
	services     map[string]*corev1.Service
	pdbs         []*policyv1.PodDisruptionBudget
	hpas         map[string]*autoscalingv2.HorizontalPodAutoscaler
	configMaps   map[string]*corev1.ConfigMap
	secrets      map[string]*corev1.Secret
	namespaces   []string
}

// strict decodes JSON into v, with an unknown field an error.
func strict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the object")
	}
	return nil
}

// build runs kustomize on dir and decodes every object strictly into its API type.
func build(t *testing.T, dir string) objects {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	o := objects{deployments: map[string]*appsv1.Deployment{}, statefulSets: map[string]*appsv1.StatefulSet{},
		services: map[string]*corev1.Service{}, hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	for _, r := range rm.Resources() {
		b, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		gvk := r.GetGvk()
		id := fmt.Sprintf("%s %s/%s", dir, gvk.Kind, r.GetName())
		var (
			obj  any
			save func()
		)
		switch gvk.ApiVersion() + " " + gvk.Kind {
		case "apps/v1 Deployment":
			v := &appsv1.Deployment{}
			obj, save = v, func() { o.deployments[v.Name] = v }
		case "apps/v1 StatefulSet":
			v := &appsv1.StatefulSet{}
			obj, save = v, func() { o.statefulSets[v.Name] = v }
		case "v1 Service":
			v := &corev1.Service{}
			obj, save = v, func() { o.services[v.Name] = v }
		case "policy/v1 PodDisruptionBudget":
			v := &policyv1.PodDisruptionBudget{}
			obj, save = v, func() { o.pdbs = append(o.pdbs, v) }
		case "autoscaling/v2 HorizontalPodAutoscaler":
			v := &autoscalingv2.HorizontalPodAutoscaler{}
			obj, save = v, func() { o.hpas[v.Name] = v }
		case "v1 ConfigMap":
			v := &corev1.ConfigMap{}
			obj, save = v, func() { o.configMaps[v.Name] = v }
		case "v1 Secret":
			v := &corev1.Secret{}
			obj, save = v, func() { o.secrets[v.Name] = v }
		case "v1 Namespace":
			v := &corev1.Namespace{}
			obj, save = v, func() { o.namespaces = append(o.namespaces, v.Name) }
		default:
			t.Errorf("%s: kind %s %s is not one this test decodes; add it", id, gvk.ApiVersion(), gvk.Kind)
			continue
		}
		if err := strict(b, obj); err != nil {
			t.Errorf("%s does not decode strictly into the API type: %v", id, err)
			continue
		}
		save()
	}
	return o
}

// repoRoot is the repository's root, two levels above this module.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.work")); err != nil {
		t.Fatalf("repository root %s: %v", root, err)
	}
	return root
}

// overlays lists deploy/k8s/overlays/*.
func overlays(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy", "k8s", "overlays", "*"))
	if err != nil || len(dirs) < 2 {
		t.Fatalf("overlays: %v (%d found, want dev and prod at least)", err, len(dirs))
	}
	return dirs
}

// healthEndpoint is what a binary's `healthcheck` command asks by default: its health
// path and its server's default port, read from the healthURL constant in its main
// package, and the file that routes the path.
type healthEndpoint struct {
	binary, cmdDir string
	path           string
	port           int
}

var healthURLConst = regexp.MustCompile(`const healthURL = "([^"]+)"`)

// binaries are the long-running binaries the manifests run, each with its main package
// and the Go file(s) that must route its probe paths.
var binaries = []struct {
	name, cmdDir string
	routes       []string // files that register the health paths
}{
	{"mlp", "platform/cmd/mlp", []string{"platform/serving/http.go"}},
	{"fraud", "fraud/cmd/fraud", []string{"fraud/internal/live/run.go"}},
	{"recsys", "recsys/cmd/recsys", []string{"recsys/internal/server/server.go"}},
	{"adsranking", "adsranking/cmd/adsranking", []string{"adsranking/internal/server/server.go"}},
}

// health reads each binary's healthURL constant and checks that the Go code routes its
// path; it returns the endpoints by binary name, and every path the code routes that a
// probe may use (readiness and liveness may differ: mlp's /v2/health/live).
func health(t *testing.T) (map[string]healthEndpoint, map[string][]string) {
	t.Helper()
	root := repoRoot(t)
	eps := map[string]healthEndpoint{}
	routed := map[string][]string{}
	for _, b := range binaries {
		src, err := os.ReadFile(filepath.Join(root, b.cmdDir, "main.go"))
		if err != nil {
			t.Fatal(err)
		}
		m := healthURLConst.FindSubmatch(src)
		if m == nil {
			t.Fatalf("%s/main.go declares no `const healthURL = \"...\"`", b.cmdDir)
		}
		u, err := url.Parse(string(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		port, err := strconv.Atoi(u.Port())
		if err != nil {
			t.Fatalf("%s healthURL %s: %v", b.name, m[1], err)
		}
		eps[b.name] = healthEndpoint{binary: b.name, cmdDir: b.cmdDir, path: u.Path, port: port}
		for _, f := range b.routes {
			code, err := os.ReadFile(filepath.Join(root, f))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range regexp.MustCompile(`"(?:GET )?(/[a-z0-9/]*(?:health|healthz)[a-z0-9/]*)"`).FindAllSubmatch(code, -1) {
				routed[b.name] = append(routed[b.name], string(p[1]))
			}
		}
		if !slices.Contains(routed[b.name], u.Path) {
			t.Errorf("%s's healthURL path %s is not routed in %v (routes found: %v)", b.name, u.Path, b.routes, routed[b.name])
		}
	}
	return eps, routed
}

// listenPort is the port a container's --addr or --metrics argument binds.
func listenPort(args []string) (int, bool) {
	for i, a := range args {
		if (a == "--addr" || a == "--metrics") && i+1 < len(args) {
			_, p, ok := strings.Cut(args[i+1], ":")
			if n, err := strconv.Atoi(p); ok && err == nil {
				return n, true
			}
		}
	}
	return 0, false
}

// probePort resolves a probe's port (a number or a container port's name).
func probePort(c corev1.Container, p intstr.IntOrString) int {
	if p.Type == intstr.Int {
		return p.IntValue()
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort)
		}
	}
	return -1
}

func TestKustomizeOverlays(t *testing.T) {
	eps, routed := health(t)
	adapter := adapterMetrics(t)
	for _, dir := range overlays(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			o := build(t, dir)
			if len(o.namespaces) != 1 {
				t.Errorf("overlay defines namespaces %v, want one", o.namespaces)
			}
			for _, b := range binaries {
				d, ok := o.deployments[b.name]
				if !ok {
					t.Errorf("no Deployment %s", b.name)
					continue
				}
				checkDeployment(t, d, eps[b.name], routed[b.name])
				if _, ok := o.services[b.name]; !ok {
					t.Errorf("no Service %s", b.name)
				}
				if !covered(o.pdbs, d.Spec.Template.Labels) {
					t.Errorf("no PodDisruptionBudget selects Deployment %s", b.name)
				}
			}
			for _, name := range []string{"recsys", "adsranking", "fraud"} {
				h, ok := o.hpas[name]
				if !ok {
					t.Errorf("no HorizontalPodAutoscaler for case study %s", name)
					continue
				}
				if h.Spec.ScaleTargetRef.Kind != "Deployment" || h.Spec.ScaleTargetRef.Name != name {
					t.Errorf("HPA %s scales %s/%s, want Deployment/%s", name, h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name, name)
				}
				if len(h.Spec.Metrics) == 0 {
					t.Errorf("HPA %s has no metrics", name)
				}
				for _, m := range h.Spec.Metrics {
					if m.Type != autoscalingv2.PodsMetricSourceType || m.Pods == nil {
						t.Errorf("HPA %s metric type %s, want a custom Pods metric", name, m.Type)
						continue
					}
					if !slices.Contains(adapter, m.Pods.Metric.Name) {
						t.Errorf("HPA %s scales on %s, which no Prometheus adapter rule defines (rules: %v)", name, m.Pods.Metric.Name, adapter)
					}
				}
			}
			if _, ok := o.configMaps["prometheus-adapter-rules"]; !ok {
				t.Error("no ConfigMap prometheus-adapter-rules")
			}
			checkNATS(t, o)
			if _, ok := o.statefulSets["redis"]; !ok {
				t.Error("no Redis StatefulSet")
			}
			if _, ok := o.services["redis"]; !ok {
				t.Error("no Service redis")
			}
			for _, d := range o.deployments {
				for _, e := range d.Spec.Template.Spec.Containers[0].Env {
					if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && strings.HasSuffix(dir, "dev") {
						if _, ok := o.secrets[e.ValueFrom.SecretKeyRef.Name]; !ok {
							t.Errorf("Deployment %s reads Secret %s, which the dev overlay does not make", d.Name, e.ValueFrom.SecretKeyRef.Name)
						}
					}
				}
			}
		})
	}
}

// checkDeployment: probes on the binary's real health endpoint and port, the port the
// binary listens on, resources with requests and limits, a non-root user.
func checkDeployment(t *testing.T, d *appsv1.Deployment, ep healthEndpoint, routed []string) {
	t.Helper()
	spec := d.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Errorf("Deployment %s has %d containers, want 1", d.Name, len(spec.Containers))
		return
	}
	c := spec.Containers[0]
	port, ok := listenPort(c.Args)
	if !ok {
		t.Errorf("Deployment %s: args %v set no --addr or --metrics HOST:PORT", d.Name, c.Args)
	}
	if port != ep.port {
		// The binaries' healthcheck command asks the default port; the manifests keep it.
		t.Errorf("Deployment %s listens on %d, but %s's healthURL (its image's HEALTHCHECK) asks %d", d.Name, port, ep.binary, ep.port)
	}
	probes := map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe}
	for kind, p := range probes {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("Deployment %s: no HTTP %s probe", d.Name, kind)
			continue
		}
		if got := probePort(c, p.HTTPGet.Port); got != port {
			t.Errorf("Deployment %s: %s probe on port %d, the binary listens on %d", d.Name, kind, got, port)
		}
		if !slices.Contains(routed, p.HTTPGet.Path) {
			t.Errorf("Deployment %s: %s probe asks %s, which %s does not route (it routes %v)", d.Name, kind, p.HTTPGet.Path, ep.binary, routed)
		}
	}
	if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path != ep.path {
		t.Errorf("Deployment %s: readiness asks %s, the binary's own healthcheck %s", d.Name, c.ReadinessProbe.HTTPGet.Path, ep.path)
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okr := c.Resources.Requests[res]
		lim, okl := c.Resources.Limits[res]
		if !okr || !okl {
			t.Errorf("Deployment %s: %s request and limit must both be set", d.Name, res)
		} else if req.Cmp(lim) > 0 {
			t.Errorf("Deployment %s: %s request %s above its limit %s", d.Name, res, req.String(), lim.String())
		}
	}
	if sc := spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Errorf("Deployment %s does not run as a non-root user", d.Name)
	}
	if !strings.Contains(c.Image, "casebook/"+ep.binary) {
		t.Errorf("Deployment %s runs image %s, want casebook/%s", d.Name, c.Image, ep.binary)
	}
}

// covered reports whether some PDB's selector matches labels.
func covered(pdbs []*policyv1.PodDisruptionBudget, labels map[string]string) bool {
	for _, p := range pdbs {
		if p.Spec.Selector == nil || len(p.Spec.Selector.MatchLabels) == 0 {
			continue
		}
		all := true
		for k, v := range p.Spec.Selector.MatchLabels {
			if labels[k] != v {
				all = false
			}
		}
		if all {
			return true
		}
	}
	return false
}

// checkNATS: a StatefulSet of three JetStream nodes behind a headless service, each
// routing to all three by their stable names, with a volume for JetStream and a PDB.
func checkNATS(t *testing.T, o objects) {
	t.Helper()
	s, ok := o.statefulSets["nats"]
	if !ok {
		t.Error("no NATS StatefulSet")
		return
	}
	if s.Spec.Replicas == nil || *s.Spec.Replicas != 3 {
		t.Errorf("NATS StatefulSet replicas %v, want 3", s.Spec.Replicas)
	}
	svc, ok := o.services[s.Spec.ServiceName]
	if !ok || svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("NATS StatefulSet's service %q is missing or not headless", s.Spec.ServiceName)
	}
	args := strings.Join(s.Spec.Template.Spec.Containers[0].Args, " ")
	for _, want := range []string{"--jetstream", "--cluster_name=", "--cluster=nats://0.0.0.0:6222"} {
		if !strings.Contains(args, want) {
			t.Errorf("NATS args %q lack %s", args, want)
		}
	}
	for i := range 3 {
		route := fmt.Sprintf("nats://nats-%d.%s:6222", i, s.Spec.ServiceName)
		if !strings.Contains(args, route) {
			t.Errorf("NATS args %q lack the route %s", args, route)
		}
	}
	if len(s.Spec.VolumeClaimTemplates) == 0 {
		t.Error("NATS StatefulSet has no volume claim for JetStream")
	}
	if !covered(o.pdbs, s.Spec.Template.Labels) {
		t.Error("no PodDisruptionBudget selects the NATS pods")
	}
}

// adapterMetrics reads the Prometheus adapter's rules: the custom metric names they
// define. Each rule must read a histogram series (…_bucket).
func adapterMetrics(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "k8s", "base", "prometheus-adapter", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Rules []struct {
			SeriesQuery string `json:"seriesQuery"`
			Resources   struct {
				Overrides map[string]struct {
					Resource string `json:"resource"`
				} `json:"overrides"`
			} `json:"resources"`
			Name struct {
				Matches string `json:"matches"`
				As      string `json:"as"`
			} `json:"name"`
			MetricsQuery string `json:"metricsQuery"`
		} `json:"rules"`
	}
	if err := yaml.UnmarshalStrict(b, &cfg); err != nil {
		t.Fatalf("prometheus-adapter/rules.yaml: %v", err)
	}
	var names []string
	for _, r := range cfg.Rules {
		if r.Name.As == "" || !strings.Contains(r.MetricsQuery, "<<.Series>>") || !strings.Contains(r.SeriesQuery, "_bucket{") {
			t.Errorf("adapter rule %+v: want a name, a metricsQuery over <<.Series>> and a histogram series", r)
		}
		if r.Resources.Overrides["pod"].Resource != "pod" {
			t.Errorf("adapter rule %s does not map the pod label to pods (a Pods metric needs it)", r.Name.As)
		}
		names = append(names, r.Name.As)
	}
	return names
}
