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

// webhookSecretEnvs are the webhook ingress's secret variables.
var webhookSecretEnvs = []string{"SALESPULSE_HUBSPOT_CLIENT_SECRET", "SALESPULSE_ZOOM_SECRET_TOKEN", "SALESPULSE_AIRCALL_WEBHOOK_TOKEN", "SALESPULSE_TWILIO_AUTH_TOKEN", "SALESPULSE_GRAPH_CLIENT_STATE", "SALESPULSE_WEBHOOK_KEY"}

// validConfig parses a salespulse.yml as `salespulse run` would and
// validates it with dummy secrets in the environment; with ingest set, as
// `salespulse ingest` would.
func validConfig(t *testing.T, where string, raw []byte, ingest bool) *app.Config {
	t.Helper()
	t.Setenv("SALESPULSE_PRIVACY_KEY", "ops-test-dummy-key-0123456789abcdef0123456789")
	t.Setenv("KAFKA_PASSWORD", "dummy")
	t.Setenv("SALESPULSE_CONSOLE_PASSWORD", "dummy-console-password")
	for _, v := range webhookSecretEnvs {
		t.Setenv(v, "dummy-webhook-secret")
	}
	c, err := app.ParseConfig(raw)
	if err == nil {
		if ingest {
			err = c.ValidateIngest()
		} else {
			err = c.Validate()
		}
	}
	if err != nil {
		t.Errorf("%s: config does not validate:\n%v", where, err)
	}
	return c
}

// TestKubernetesManifests checks deploy/k8s: the pipeline (`salespulse
// run`: Deployment, Services, PDB and HPA named salespulse*) and, apart
// from it, the webhook ingress (`salespulse ingest`: salespulse-ingest*,
// Service salespulse-webhooks). Apart because the ingress's readiness is
// Kafka's, which the pipeline's must not be (a broker blip would pull
// every pipeline replica at once), it scales on requests rather than
// partitions, and only its pods need the webhook secrets.
func TestKubernetesManifests(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "deploy/k8s")
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	objs := map[string]map[string]any{} // kind/name -> document
	for _, f := range files {
		for _, d := range readYAMLDocs(t, f) {
			kind, _ := d["kind"].(string)
			name, _ := dig(d, "metadata", "name").(string)
			if kind == "" || dig(d, "apiVersion") == nil {
				t.Errorf("%s: document without kind/apiVersion", f)
				continue
			}
			if kind != "Kustomization" && name == "" {
				t.Errorf("%s: %s without metadata.name", f, kind)
			}
			if objs[kind+"/"+name] != nil {
				t.Errorf("%s: %s/%s defined twice", f, kind, name)
			}
			objs[kind+"/"+name] = d
		}
	}
	get := func(kindName string) map[string]any {
		t.Helper()
		d := objs[kindName]
		if d == nil {
			t.Fatalf("deploy/k8s has no %s", kindName)
		}
		return d
	}
	get("Kustomization/")
	kust := strings.Join(toStrings(dig(objs["Kustomization/"], "resources")), " ")
	for _, f := range files {
		if base := filepath.Base(f); base != "kustomization.yaml" && !strings.Contains(kust, base) {
			t.Errorf("kustomization.yaml does not list %s", base)
		}
	}

	pipe := checkWorkload(t, objs, workload{
		deployment: "salespulse", configMap: "salespulse-config", services: []string{"salespulse-metrics", "salespulse-console"},
		pdb: "salespulse", hpa: "salespulse", command: "run",
	})
	ing := checkWorkload(t, objs, workload{
		deployment: "salespulse-ingest", configMap: "salespulse-ingest-config", services: []string{"salespulse-webhooks", "salespulse-ingest-metrics"},
		pdb: "salespulse-ingest", hpa: "salespulse-ingest", command: "ingest",
	})
	if pipe.cfg != nil && pipe.cfg.Ingest.Listen != "" {
		t.Errorf("the pipeline's ConfigMap sets ingest.listen %q: its readiness would depend on Kafka; the ingress is salespulse-ingest", pipe.cfg.Ingest.Listen)
	}
	// The console listens on a container port, behind auth (Validate
	// requires it off loopback).
	if pipe.cfg != nil {
		_, port, _ := net.SplitHostPort(pipe.cfg.Console.Listen)
		if n, _ := strconv.Atoi(port); pipe.cfg.Console.Listen == "" || !pipe.ports[n] {
			t.Errorf("salespulse-config console.listen %q is not a container port", pipe.cfg.Console.Listen)
		}
	}
	if ing.cfg != nil {
		_, port, _ := net.SplitHostPort(ing.cfg.Ingest.Listen)
		if n, _ := strconv.Atoi(port); !ing.ports[n] {
			t.Errorf("salespulse-ingest-config ingest.listen %q is not a container port", ing.cfg.Ingest.Listen)
		}
		if len(ing.cfg.Ingest.Vendors) == 0 {
			t.Error("salespulse-ingest-config enables no vendor")
		}
	}
	// The webhook secrets reach the ingress's pods only.
	for _, v := range webhookSecretEnvs {
		if pipe.env[v] {
			t.Errorf("the pipeline's pods read %s: the webhook secrets belong to salespulse-ingest only", v)
		}
	}
	if pipe.secrets["salespulse-webhook-secrets"] {
		t.Error("the pipeline's pods read salespulse-webhook-secrets")
	}
	if pipe.ports["webhooks"] {
		t.Error("the pipeline's pods expose a webhooks port")
	}
	// The public Service reaches the ingress's webhook port, not the
	// pipeline, and neither workload's selector takes the other's pods.
	if p := dig(get("Service/salespulse-webhooks"), "spec", "ports", 0, "targetPort"); !ing.ports[p] || p == "http" || p == 8080 {
		t.Errorf("Service salespulse-webhooks targets %v, want the ingress's webhooks port", p)
	}
	if selects(dig(get("Deployment/salespulse"), "spec", "selector", "matchLabels"), ing.labels) ||
		selects(dig(get("Deployment/salespulse-ingest"), "spec", "selector", "matchLabels"), pipe.labels) {
		t.Error("the pipeline's and the ingress's selectors overlap")
	}
	if mt := dig(get("HorizontalPodAutoscaler/salespulse"), "spec", "metrics", 0, "type"); mt != "External" && mt != "Pods" {
		t.Errorf("pipeline HPA metric type %v, want External or Pods (consumer lag)", mt)
	}
	if name, _ := dig(get("HorizontalPodAutoscaler/salespulse"), "spec", "metrics", 0, "external", "metric", "name").(string); !strings.Contains(name, "lag") {
		t.Errorf("pipeline HPA scales on %q, want consumer lag", name)
	}

	// kubectl renders the kustomization offline when it is installed.
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		out, err := exec.Command(kubectl, "kustomize", dir).CombinedOutput()
		if err != nil {
			t.Errorf("kubectl kustomize: %v\n%s", err, out)
		}
	}
}

// workload names one Deployment and what belongs to it.
type workload struct {
	deployment, configMap string
	services              []string
	pdb, hpa              string
	command               string // the salespulse subcommand it runs
}

// checkedWorkload is what checkWorkload found.
type checkedWorkload struct {
	cfg     *app.Config
	labels  map[string]any
	ports   map[any]bool    // container port names and numbers
	env     map[string]bool // variables set
	secrets map[string]bool // Secrets read
}

// checkWorkload checks one Deployment: selectors of its Services, PDB and
// HPA match its pods; image pinned, non-root, memory bounded; probes on
// paths the binary serves and on its ports; every secret it reads exists;
// it runs its command on its mounted ConfigMap, which validates for that
// command.
func checkWorkload(t *testing.T, objs map[string]map[string]any, w workload) checkedWorkload {
	t.Helper()
	get := func(kindName string) map[string]any {
		t.Helper()
		d := objs[kindName]
		if d == nil {
			t.Fatalf("deploy/k8s has no %s", kindName)
		}
		return d
	}
	dep := get("Deployment/" + w.deployment)
	labels, _ := dig(dep, "spec", "template", "metadata", "labels").(map[string]any)
	out := checkedWorkload{labels: labels, ports: map[any]bool{}, env: map[string]bool{}, secrets: map[string]bool{}}
	matches := func(what string, sel any) {
		t.Helper()
		m, _ := sel.(map[string]any)
		if len(m) == 0 {
			t.Errorf("%s: empty selector", what)
		}
		if !selects(sel, labels) {
			t.Errorf("%s selector %v does not match the pod labels %v of %s", what, m, labels, w.deployment)
		}
	}
	matches("Deployment "+w.deployment, dig(dep, "spec", "selector", "matchLabels"))
	for _, s := range w.services {
		matches("Service "+s, dig(get("Service/"+s), "spec", "selector"))
	}
	matches("PodDisruptionBudget "+w.pdb, dig(get("PodDisruptionBudget/"+w.pdb), "spec", "selector", "matchLabels"))
	if dig(get("HorizontalPodAutoscaler/"+w.hpa), "spec", "scaleTargetRef", "name") != w.deployment {
		t.Errorf("HPA %s does not target Deployment %s", w.hpa, w.deployment)
	}

	ctr, _ := dig(dep, "spec", "template", "spec", "containers", 0).(map[string]any)
	if ctr == nil {
		t.Fatalf("Deployment %s has no container", w.deployment)
	}
	img, _ := ctr["image"].(string)
	checkImage(t, "Deployment "+w.deployment, img)
	if dig(dep, "spec", "template", "spec", "securityContext", "runAsNonRoot") != true {
		t.Errorf("Deployment %s: pod securityContext.runAsNonRoot is not true", w.deployment)
	}
	for _, r := range []string{"requests", "limits"} {
		if dig(ctr, "resources", r, "memory") == nil {
			t.Errorf("Deployment %s: resources.%s.memory missing", w.deployment, r)
		}
	}
	// Probes point at paths the binary's admin handler serves, on the
	// container port named in the probe.
	h := app.AdminHandler(prometheus.NewRegistry(), func(context.Context) error { return nil })
	for _, p := range toList(dig(ctr, "ports")) {
		out.ports[dig(p, "name")] = true
		out.ports[dig(p, "containerPort")] = true
	}
	for probe, want := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		path, _ := dig(ctr, probe, "httpGet", "path").(string)
		if path != want {
			t.Errorf("Deployment %s %s path = %q, want %q", w.deployment, probe, path, want)
		}
		if !out.ports[dig(ctr, probe, "httpGet", "port")] {
			t.Errorf("Deployment %s %s port %v is not a container port", w.deployment, probe, dig(ctr, probe, "httpGet", "port"))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			t.Errorf("the binary answers %s with %d", path, rec.Code)
		}
	}
	// Every secret the pod reads exists in a Secret.
	for _, e := range toList(dig(ctr, "env")) {
		name, _ := dig(e, "name").(string)
		out.env[name] = true
		if ref := dig(e, "valueFrom", "secretKeyRef"); ref != nil {
			sname, _ := dig(ref, "name").(string)
			key, _ := dig(ref, "key").(string)
			out.secrets[sname] = true
			if dig(objs["Secret/"+sname], "stringData", key) == nil {
				t.Errorf("Deployment %s env %s reads key %q of Secret %q, which does not define it", w.deployment, name, key, sname)
			}
		}
	}
	// The ConfigMap holds a config that validates for the command,
	// mounted where the args say.
	raw, _ := dig(get("ConfigMap/"+w.configMap), "data", "salespulse.yml").(string)
	if raw == "" {
		t.Fatalf("ConfigMap %s has no salespulse.yml", w.configMap)
	}
	out.cfg = validConfig(t, "ConfigMap "+w.configMap+" salespulse.yml", []byte(raw), w.command == "ingest")
	if out.cfg != nil && !strings.HasSuffix(out.cfg.HTTP.Addr, ":8080") {
		t.Errorf("ConfigMap %s http.addr %q is not the probed port 8080", w.configMap, out.cfg.HTTP.Addr)
	}
	args := toStrings(dig(ctr, "args"))
	if len(args) == 0 || args[0] != w.command || !strings.Contains(strings.Join(args, " "), "/etc/salespulse/salespulse.yml") ||
		dig(ctr, "volumeMounts", 0, "mountPath") != "/etc/salespulse" || dig(dep, "spec", "template", "spec", "volumes", 0, "configMap", "name") != w.configMap {
		t.Errorf("Deployment %s does not run %q on the mounted %s: args %q", w.deployment, w.command, w.configMap, args)
	}
	return out
}

// selects reports whether the label selector sel matches labels.
func selects(sel any, labels map[string]any) bool {
	m, _ := sel.(map[string]any)
	for k, v := range m {
		if labels[k] != v {
			return false
		}
	}
	return len(m) > 0
}

func toList(v any) []any {
	l, _ := v.([]any)
	return l
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
	// The pipeline runs without the ingress: a plain `up` needs no webhook
	// secret and its readiness no Kafka.
	if c := validConfig(t, "deploy/compose/salespulse.yml", raw, false); c != nil && c.Ingest.Listen != "" {
		t.Errorf("deploy/compose/salespulse.yml sets ingest.listen %q: the ingress is the ingest service", c.Ingest.Listen)
	}
	// The ingress is its own service under a profile, running `salespulse
	// ingest` on its own config, publishing the webhook port.
	ing, _ := services["ingest"].(map[string]any)
	if ing == nil {
		t.Fatal("compose has no ingest service")
	}
	if !slices.Contains(toStrings(dig(ing, "profiles")), "ingest") {
		t.Errorf("compose ingest service profiles %v, want [ingest]: a plain up must not need its secrets", dig(ing, "profiles"))
	}
	if cmd := toStrings(dig(ing, "command")); len(cmd) < 3 || cmd[0] != "ingest" || cmd[1] != "--config" {
		t.Errorf("compose ingest service command %q, want ingest --config FILE", cmd)
	}
	raw, err = os.ReadFile(filepath.Join(root, "deploy/compose/ingest.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if c := validConfig(t, "deploy/compose/ingest.yml", raw, true); c != nil {
		_, port, _ := net.SplitHostPort(c.Ingest.Listen)
		if !slices.ContainsFunc(toStrings(dig(ing, "ports")), func(p string) bool { return strings.HasSuffix(p, ":"+port) }) {
			t.Errorf("compose ingest does not publish the webhook port %s (ingest.listen)", port)
		}
	}
	// Compose interpolates every service before it applies profiles: a
	// required ${VAR:?} anywhere, or a webhook secret outside the ingest
	// service, would make a plain `up` need it.
	compose, err := os.ReadFile(filepath.Join(root, "deploy/compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range services {
		if len(toStrings(dig(s, "profiles"))) == 0 {
			continue
		}
		for k, v := range toMap(dig(s, "environment")) {
			if str, _ := v.(string); requiredVar.MatchString(str) {
				t.Errorf("compose %s (profile) requires %s=%s: a plain up would fail without it", name, k, str)
			}
		}
	}
	for _, v := range webhookSecretEnvs {
		for name, s := range services {
			if name != "ingest" && toMap(dig(s, "environment"))[v] != nil {
				t.Errorf("compose %s reads %s: the webhook secrets belong to the ingest service", name, v)
			}
		}
	}
	if strings.Contains(string(compose), "SALESPULSE_WEBHOOK_KEY:?") {
		t.Error("compose.yaml requires SALESPULSE_WEBHOOK_KEY (${…:?}): a plain up would fail without it")
	}
}

// requiredVar is compose's ${VAR:?msg} or ${VAR?msg}.
var requiredVar = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*:?\?`)

func toMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
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
