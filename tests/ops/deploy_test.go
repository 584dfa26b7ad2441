package ops

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/salespulse/salespulse/internal/app"
)

// The manifests cannot be applied here (no Docker daemon, no cluster), so
// these tests check them statically: they parse, name what they must, pin
// images, probe paths the binary serves, and carry configs that validate.

func readYAMLDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
	return docs
}

// dig walks nested maps and lists: dig(v, "spec", "template", 0, "name").
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

var pinnedImage = regexp.MustCompile(`^[a-z0-9./_-]+(:[0-9][A-Za-z0-9._-]*|:v[0-9][A-Za-z0-9._-]*|:[0-9.]+-[a-z0-9.-]+|:nonroot)$`)

func checkImage(t *testing.T, where, image string) {
	t.Helper()
	if !pinnedImage.MatchString(image) || strings.HasSuffix(image, ":latest") {
		t.Errorf("%s: image %q is not pinned by a version tag", where, image)
	}
}

// validConfig parses a salespulse.yml as `salespulse run` would and
// validates it with dummy secrets in the environment.
func validConfig(t *testing.T, where string, raw []byte) *app.Config {
	t.Helper()
	t.Setenv("SALESPULSE_PRIVACY_KEY", "ops-test-dummy-key-0123456789abcdef0123456789")
	t.Setenv("KAFKA_PASSWORD", "dummy")
	for _, v := range []string{"SALESPULSE_HUBSPOT_CLIENT_SECRET", "SALESPULSE_ZOOM_SECRET_TOKEN", "SALESPULSE_AIRCALL_WEBHOOK_TOKEN", "SALESPULSE_TWILIO_AUTH_TOKEN", "SALESPULSE_GRAPH_CLIENT_STATE", "SALESPULSE_WEBHOOK_KEY"} {
		t.Setenv(v, "dummy-webhook-secret")
	}
	c, err := app.ParseConfig(raw)
	if err == nil {
		err = c.Validate()
	}
	if err != nil {
		t.Errorf("%s: config does not validate:\n%v", where, err)
	}
	return c
}

func TestKubernetesManifests(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "deploy/k8s")
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	byKind := map[string]map[string]any{}
	for _, f := range files {
		for _, d := range readYAMLDocs(t, f) {
			kind, _ := d["kind"].(string)
			if kind == "" || dig(d, "apiVersion") == nil {
				t.Errorf("%s: document without kind/apiVersion", f)
				continue
			}
			if kind != "Kustomization" && dig(d, "metadata", "name") == nil {
				t.Errorf("%s: %s without metadata.name", f, kind)
			}
			byKind[kind] = d
		}
	}
	for _, k := range []string{"Deployment", "ConfigMap", "Secret", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "Kustomization"} {
		if byKind[k] == nil {
			t.Fatalf("deploy/k8s has no %s", k)
		}
	}
	dep := byKind["Deployment"]
	labels := dig(dep, "spec", "template", "metadata", "labels").(map[string]any)
	matches := func(what string, sel any) {
		m, _ := sel.(map[string]any)
		if len(m) == 0 {
			t.Errorf("%s: empty selector", what)
		}
		for k, v := range m {
			if labels[k] != v {
				t.Errorf("%s selector %s=%v does not match the pod labels %v", what, k, v, labels)
			}
		}
	}
	matches("Deployment", dig(dep, "spec", "selector", "matchLabels"))
	matches("Service", dig(byKind["Service"], "spec", "selector"))
	matches("PodDisruptionBudget", dig(byKind["PodDisruptionBudget"], "spec", "selector", "matchLabels"))

	ctr := dig(dep, "spec", "template", "spec", "containers", 0).(map[string]any)
	checkImage(t, "Deployment", ctr["image"].(string))
	if dig(dep, "spec", "template", "spec", "securityContext", "runAsNonRoot") != true {
		t.Error("Deployment: pod securityContext.runAsNonRoot is not true")
	}
	for _, r := range []string{"requests", "limits"} {
		if dig(ctr, "resources", r, "memory") == nil {
			t.Errorf("Deployment: resources.%s.memory missing", r)
		}
	}
	// Probes point at paths the binary's admin handler serves, on the
	// container port named in the probe.
	h := app.AdminHandler(prometheus.NewRegistry(), func(context.Context) error { return nil })
	ports := map[any]bool{}
	for _, p := range dig(ctr, "ports").([]any) {
		ports[dig(p, "name")] = true
		ports[dig(p, "containerPort")] = true
	}
	for probe, want := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		path, _ := dig(ctr, probe, "httpGet", "path").(string)
		if path != want {
			t.Errorf("Deployment %s path = %q, want %q", probe, path, want)
		}
		if !ports[dig(ctr, probe, "httpGet", "port")] {
			t.Errorf("Deployment %s port %v is not a container port", probe, dig(ctr, probe, "httpGet", "port"))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			t.Errorf("the binary answers %s with %d", path, rec.Code)
		}
	}
	// Every secret the pod reads exists in the Secret; the ConfigMap holds
	// a config that validates, mounted where the args say.
	secret := byKind["Secret"]
	for _, e := range dig(ctr, "env").([]any) {
		if ref := dig(e, "valueFrom", "secretKeyRef"); ref != nil {
			if dig(ref, "name") != dig(secret, "metadata", "name") || dig(secret, "stringData", dig(ref, "key").(string)) == nil {
				t.Errorf("Deployment env %v reads a secret key the Secret does not define", dig(e, "name"))
			}
		}
	}
	cm := byKind["ConfigMap"]
	raw, _ := dig(cm, "data", "salespulse.yml").(string)
	if raw == "" {
		t.Fatal("ConfigMap has no salespulse.yml")
	}
	cfg := validConfig(t, "ConfigMap salespulse.yml", []byte(raw))
	if cfg != nil && !strings.HasSuffix(cfg.HTTP.Addr, ":8080") {
		t.Errorf("ConfigMap http.addr %q is not the probed port 8080", cfg.HTTP.Addr)
	}
	// The webhook ingress listens on a container port (issue 15).
	if cfg != nil && cfg.Ingest.Listen != "" {
		_, port, _ := net.SplitHostPort(cfg.Ingest.Listen)
		if n, _ := strconv.Atoi(port); !ports[n] {
			t.Errorf("ConfigMap ingest.listen %q is not a container port", cfg.Ingest.Listen)
		}
	}
	args := strings.Join(toStrings(dig(ctr, "args")), " ")
	if !strings.Contains(args, "/etc/salespulse/salespulse.yml") || dig(ctr, "volumeMounts", 0, "mountPath") != "/etc/salespulse" {
		t.Errorf("Deployment does not run the mounted config: args %q", args)
	}

	hpa := byKind["HorizontalPodAutoscaler"]
	if dig(hpa, "spec", "scaleTargetRef", "name") != dig(dep, "metadata", "name") {
		t.Error("HPA does not target the Deployment")
	}
	if mt := dig(hpa, "spec", "metrics", 0, "type"); mt != "External" && mt != "Pods" {
		t.Errorf("HPA metric type %v, want External or Pods (consumer lag)", mt)
	}
	if name, _ := dig(hpa, "spec", "metrics", 0, "external", "metric", "name").(string); !strings.Contains(name, "lag") {
		t.Errorf("HPA scales on %q, want consumer lag", name)
	}

	// kubectl renders the kustomization offline when it is installed.
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		out, err := exec.Command(kubectl, "kustomize", dir).CombinedOutput()
		if err != nil {
			t.Errorf("kubectl kustomize: %v\n%s", err, out)
		}
	}
}

func toStrings(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func TestComposeFile(t *testing.T) {
	root := repoRoot(t)
	docs := readYAMLDocs(t, filepath.Join(root, "deploy/compose.yaml"))
	services, _ := dig(docs[0], "services").(map[string]any)
	for _, s := range []string{"kafka", "clickhouse", "salespulse", "grafana", "prometheus", "alertmanager"} {
		if services[s] == nil {
			t.Errorf("compose has no %s service", s)
		}
	}
	built := map[string]bool{} // images compose builds from this repository
	for _, s := range services {
		if dig(s, "build") != nil {
			img, _ := dig(s, "image").(string)
			built[img] = true
		}
	}
	for name, s := range services {
		img, _ := dig(s, "image").(string)
		if img == "" {
			t.Errorf("service %s has no image", name)
			continue
		}
		if !built[img] {
			checkImage(t, "compose "+name, img)
		}
		for _, v := range toStrings(dig(s, "volumes")) {
			src := strings.Split(v, ":")[0]
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join(root, "deploy", src)); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			}
		}
	}
	if img, _ := dig(services, "kafka", "image").(string); !strings.HasPrefix(img, "apache/kafka:4.") {
		t.Errorf("kafka image %q, want apache/kafka:4.x", img)
	}
	if roles, _ := dig(services, "kafka", "environment", "KAFKA_PROCESS_ROLES").(string); !strings.Contains(roles, "controller") {
		t.Error("kafka does not run in KRaft mode (KAFKA_PROCESS_ROLES without controller)")
	}
	raw, err := os.ReadFile(filepath.Join(root, "deploy/compose/salespulse.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if c := validConfig(t, "deploy/compose/salespulse.yml", raw); c != nil && c.Ingest.Listen != "" {
		_, port, _ := net.SplitHostPort(c.Ingest.Listen)
		if !slices.ContainsFunc(toStrings(dig(services, "salespulse", "ports")), func(p string) bool { return strings.HasSuffix(p, ":"+port) }) {
			t.Errorf("compose does not publish the webhook port %s (ingest.listen)", port)
		}
	}
}

func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	var user string
	for _, l := range strings.Split(string(raw), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "FROM" {
			froms = append(froms, f[1])
			user = "" // USER applies per stage
		}
		if len(f) >= 2 && f[0] == "USER" {
			user = f[1]
		}
	}
	if len(froms) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a multi-stage build", len(froms))
	}
	for _, f := range froms {
		checkImage(t, "Dockerfile FROM", f)
	}
	if last := froms[len(froms)-1]; !strings.Contains(last, "distroless") && last != "scratch" {
		t.Errorf("final stage %s is neither distroless nor scratch", last)
	}
	if user == "" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") {
		t.Errorf("final stage runs as %q, want a non-root numeric user", user)
	}
	if !strings.Contains(string(raw), "CGO_ENABLED=0") {
		t.Error("the binary is not built with CGO_ENABLED=0 (static)")
	}
}

func TestGrafanaProvisioning(t *testing.T) {
	root := repoRoot(t)
	uids := map[string]string{} // uid -> type, per provisioning file
	for _, f := range []string{"deploy/grafana/provisioning/datasources/salespulse.yml", "deploy/grafana/datasource-dev.yml"} {
		docs := readYAMLDocs(t, filepath.Join(root, f))
		seen := map[string]string{}
		for _, ds := range dig(docs[0], "datasources").([]any) {
			uid, _ := dig(ds, "uid").(string)
			typ, _ := dig(ds, "type").(string)
			seen[uid] = typ
			if typ == "grafana-clickhouse-datasource" {
				proto, _ := dig(ds, "jsonData", "protocol").(string)
				if proto != "native" && proto != "http" {
					t.Errorf("%s: ClickHouse protocol %q", f, proto)
				}
			}
		}
		if len(uids) > 0 && !sameUIDs(uids, seen) {
			t.Errorf("%s provisions %v, other file %v: dashboards need the same uids", f, seen, uids)
		}
		uids = seen
	}
	for file, d := range loadDashboards(t) {
		if d.UID == "" || d.Title == "" {
			t.Errorf("%s: no uid or title", file)
		}
		if len(d.Panels) == 0 {
			t.Errorf("%s: no panels", file)
		}
		for _, p := range d.Panels {
			refs := []datasourceRef{p.Datasource}
			for _, tg := range p.Targets {
				refs = append(refs, tg.Datasource)
			}
			for _, r := range refs {
				if typ, ok := uids[r.UID]; !ok || typ != r.Type {
					t.Errorf("%s %q: data source %+v is not provisioned", file, p.Title, r)
				}
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s %q: no queries", file, p.Title)
			}
		}
	}
	// The dashboards provider reads the directory compose mounts.
	prov := readYAMLDocs(t, filepath.Join(root, "deploy/grafana/provisioning/dashboards/salespulse.yml"))
	path := dig(prov[0], "providers", 0, "options", "path")
	compose := readYAMLDocs(t, filepath.Join(root, "deploy/compose.yaml"))
	if !slices.Contains(toStrings(dig(compose[0], "services", "grafana", "volumes")), "./grafana/dashboards:"+path.(string)+":ro") {
		t.Errorf("compose does not mount the dashboards at the provider path %v", path)
	}
}

func sameUIDs(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
