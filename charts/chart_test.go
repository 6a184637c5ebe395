// Package charts tests packyard's Helm chart: it lints the chart, renders it with the real helm binary and
// decodes every rendered document strictly as a Kubernetes object, so a misspelt or misplaced field fails
// here rather than in a cluster.
package charts

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"go/build"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

const (
	chartDir        = "packyard"
	productionFile  = "packyard/ci/production-values.yaml"
	releaseName     = "packyard"
	releaseNS       = "registry"
	replicasMessage = "requires PostgreSQL, S3 and Redis"
)

// helmBinary finds helm on PATH, then in $(go env GOPATH)/bin. Without it the tests skip, unless
// PACKYARD_TEST_REQUIRE_SERVICES=1 makes a missing tool a failure.
func helmBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	gopath := build.Default.GOPATH
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil && strings.TrimSpace(string(out)) != "" {
		gopath = strings.TrimSpace(string(out))
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "helm")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	if os.Getenv("PACKYARD_TEST_REQUIRE_SERVICES") == "1" {
		t.Fatal("helm not found on PATH or in $(go env GOPATH)/bin; run scripts/install-deps.sh")
	}
	t.Skip("helm not found on PATH or in $(go env GOPATH)/bin (set PACKYARD_TEST_REQUIRE_SERVICES=1 to fail instead)")
	return ""
}

// runHelm runs helm with args and returns stdout, or an error carrying stderr.
func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), helmBinary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func templateArgs(extra ...string) []string {
	return append([]string{"template", releaseName, chartDir, "--namespace", releaseNS}, extra...)
}

// rendered is one `helm template` run, decoded.
type rendered struct {
	objects []runtime.Object
}

func render(t *testing.T, extra ...string) rendered {
	t.Helper()
	out, err := runHelm(t, templateArgs(extra...)...)
	require.NoError(t, err)
	docs := splitDocuments(t, out)
	require.NotEmpty(t, docs)
	var r rendered
	for _, doc := range docs {
		obj, err := decodeStrict(doc)
		require.NoError(t, err, "document:\n%s", doc)
		r.objects = append(r.objects, obj)
	}
	return r
}

// splitDocuments splits a YAML stream into its documents, dropping those with only comments or blanks.
func splitDocuments(t *testing.T, stream string) [][]byte {
	t.Helper()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(stream)))
	var docs [][]byte
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		require.NoError(t, err)
		if hasContent(doc) {
			docs = append(docs, doc)
		}
	}
}

func hasContent(doc []byte) bool {
	for line := range strings.SplitSeq(string(doc), "\n") {
		l := strings.TrimSpace(line)
		if l != "" && l != "---" && !strings.HasPrefix(l, "#") {
			return true
		}
	}
	return false
}

// decodeStrict decodes one document as a typed Kubernetes object, rejecting unknown and duplicate fields.
func decodeStrict(doc []byte) (runtime.Object, error) {
	codecs := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict)
	obj, _, err := codecs.UniversalDeserializer().Decode(doc, nil, nil)
	return obj, err
}

func only[T runtime.Object](t *testing.T, r rendered) T {
	t.Helper()
	all := all[T](r)
	require.Len(t, all, 1, "want exactly one %T", *new(T))
	return all[0]
}

func all[T runtime.Object](r rendered) []T {
	var out []T
	for _, o := range r.objects {
		if v, ok := o.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

func secretByName(t *testing.T, r rendered, name string) *corev1.Secret {
	t.Helper()
	for _, s := range all[*corev1.Secret](r) {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no Secret %q rendered", name)
	return nil
}

func envVar(t *testing.T, c corev1.Container, name string) corev1.EnvVar {
	t.Helper()
	for _, e := range c.Env {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("container %q has no env %s", c.Name, name)
	return corev1.EnvVar{}
}

func hasEnv(c corev1.Container, name string) bool {
	return slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
}

// requireSecretRefsResolve checks that every secretKeyRef of c names a rendered Secret holding that key.
func requireSecretRefsResolve(t *testing.T, r rendered, c corev1.Container) {
	t.Helper()
	for _, e := range c.Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		s := secretByName(t, r, ref.Name)
		require.Contains(t, s.Data, ref.Key, "env %s refers to a key the Secret %s lacks", e.Name, ref.Name)
		require.NotEmpty(t, s.Data[ref.Key], "env %s: empty value", e.Name)
	}
}

func readValues(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var v map[string]any
	require.NoError(t, yaml.Unmarshal(raw, &v))
	return v
}

func lookupValue(t *testing.T, values map[string]any, path string) any {
	t.Helper()
	var cur any = values
	for part := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		require.True(t, ok, "value %s: %s is not a map", path, part)
		cur, ok = m[part]
		require.True(t, ok, "value %s missing", path)
	}
	return cur
}

func TestLint(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{name: "default values"},
		{name: "production values", args: []string{"-f", productionFile}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runHelm(t, append([]string{"lint", "--strict", chartDir}, tc.args...)...)
			require.NoError(t, err, out)
			require.Contains(t, out, "0 chart(s) failed")
		})
	}
}

func TestDefaultValuesRenderSingleReplicaWithEmbeddedStorage(t *testing.T) {
	r := render(t)

	d := only[*appsv1.Deployment](t, r)
	require.NotNil(t, d.Spec.Replicas)
	require.EqualValues(t, 1, *d.Spec.Replicas)
	require.Equal(t, appsv1.RecreateDeploymentStrategyType, d.Spec.Strategy.Type, "a RWO volume needs Recreate")
	require.Len(t, d.Spec.Template.Spec.Containers, 1)
	c := d.Spec.Template.Spec.Containers[0]

	require.Equal(t, "ghcr.io/packyard/packyard:0.1.0", c.Image, "tag defaults to the appVersion")
	require.Equal(t, []string{"serve"}, c.Args)
	require.NotNil(t, c.LivenessProbe)
	require.NotNil(t, c.LivenessProbe.HTTPGet)
	require.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	require.Equal(t, "http", c.LivenessProbe.HTTPGet.Port.String())
	require.NotNil(t, c.ReadinessProbe)
	require.NotNil(t, c.ReadinessProbe.HTTPGet)
	require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	require.Len(t, c.Ports, 1)
	require.Equal(t, "http", c.Ports[0].Name)
	require.EqualValues(t, 8080, c.Ports[0].ContainerPort)
	require.Equal(t, ":8080", envVar(t, c, "PACKYARD_HTTP_ADDR").Value)

	// Embedded mode: no external services configured, migrations at start.
	require.False(t, hasEnv(c, "PACKYARD_DATABASE_URL"))
	require.False(t, hasEnv(c, "PACKYARD_S3_ENDPOINT"))
	require.False(t, hasEnv(c, "PACKYARD_REDIS_URL"))
	require.Equal(t, "true", envVar(t, c, "PACKYARD_MIGRATE_ON_START").Value)
	require.Empty(t, all[*batchv1.Job](r))

	// Shutdown: the pod is killed only after packyard's own timeout.
	require.Equal(t, "30s", envVar(t, c, "PACKYARD_SHUTDOWN_TIMEOUT").Value)
	require.NotNil(t, d.Spec.Template.Spec.TerminationGracePeriodSeconds)
	require.Greater(t, *d.Spec.Template.Spec.TerminationGracePeriodSeconds, int64(30))

	// Hardened by default.
	psc := d.Spec.Template.Spec.SecurityContext
	require.NotNil(t, psc)
	require.NotNil(t, psc.RunAsNonRoot)
	require.True(t, *psc.RunAsNonRoot)
	sc := c.SecurityContext
	require.NotNil(t, sc)
	require.NotNil(t, sc.ReadOnlyRootFilesystem)
	require.True(t, *sc.ReadOnlyRootFilesystem)
	require.NotNil(t, sc.AllowPrivilegeEscalation)
	require.False(t, *sc.AllowPrivilegeEscalation)
	require.NotNil(t, sc.Capabilities)
	require.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	require.NotNil(t, d.Spec.Template.Spec.AutomountServiceAccountToken)
	require.False(t, *d.Spec.Template.Spec.AutomountServiceAccountToken)

	// The data directory is the chart's PVC, mounted where PACKYARD_DATA_DIR points.
	pvc := only[*corev1.PersistentVolumeClaim](t, r)
	require.Equal(t, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, pvc.Spec.AccessModes)
	dataDir := envVar(t, c, "PACKYARD_DATA_DIR").Value
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	require.Contains(t, mounts, dataDir)
	require.Contains(t, mounts, "/tmp", "a read-only root filesystem needs a writable /tmp")
	var dataVolume *corev1.Volume
	for i, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == mounts[dataDir] {
			dataVolume = &d.Spec.Template.Spec.Volumes[i]
		}
	}
	require.NotNil(t, dataVolume)
	require.NotNil(t, dataVolume.PersistentVolumeClaim, "data directory must be on the PVC in embedded mode")
	require.Equal(t, pvc.Name, dataVolume.PersistentVolumeClaim.ClaimName)

	// The generated encryption key reaches the pod from the release Secret.
	key := envVar(t, c, "PACKYARD_SECRET_KEY")
	require.Empty(t, key.Value)
	require.NotNil(t, key.ValueFrom)
	require.NotNil(t, key.ValueFrom.SecretKeyRef)
	requireSecretRefsResolve(t, r, c)
	generated := secretByName(t, r, key.ValueFrom.SecretKeyRef.Name).Data[key.ValueFrom.SecretKeyRef.Key]
	require.Len(t, generated, 44, "32 bytes in base64")
	require.False(t, hasEnv(c, "PACKYARD_SECRET_KEY_PREVIOUS"))
	require.Equal(t, "false", envVar(t, c, "PACKYARD_TRUST_PROXY_HEADERS").Value)

	// The Service reaches the server pods only.
	svc := only[*corev1.Service](t, r)
	require.Equal(t, d.Spec.Selector.MatchLabels, svc.Spec.Selector)
	require.Len(t, svc.Spec.Ports, 1)
	require.Equal(t, "http", svc.Spec.Ports[0].TargetPort.String())
	require.Nil(t, svc.Spec.Ports[0].AppProtocol)
	require.Empty(t, all[*networkingv1.Ingress](r))
}

func TestProductionValuesRenderHighlyAvailableDeployment(t *testing.T) {
	prod := readValues(t, productionFile)
	r := render(t, "-f", productionFile)

	d := only[*appsv1.Deployment](t, r)
	require.NotNil(t, d.Spec.Replicas)
	require.EqualValues(t, 3, *d.Spec.Replicas)
	require.Equal(t, appsv1.RollingUpdateDeploymentStrategyType, d.Spec.Strategy.Type)
	c := d.Spec.Template.Spec.Containers[0]
	require.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)

	// Stateless replicas: no claim, the data directory is scratch space.
	require.Empty(t, all[*corev1.PersistentVolumeClaim](r))
	for _, v := range d.Spec.Template.Spec.Volumes {
		require.Nil(t, v.PersistentVolumeClaim, "volume %s", v.Name)
	}

	// Secrets come from the release Secret by reference, never inline.
	releaseSecret := secretByName(t, r, releaseName)
	for _, name := range []string{
		"PACKYARD_DATABASE_URL", "PACKYARD_S3_ACCESS_KEY", "PACKYARD_S3_SECRET_KEY",
		"PACKYARD_REDIS_URL", "PACKYARD_SECRET_KEY",
	} {
		e := envVar(t, c, name)
		require.Empty(t, e.Value, name)
		require.NotNil(t, e.ValueFrom, name)
		require.NotNil(t, e.ValueFrom.SecretKeyRef, name)
		require.Equal(t, releaseSecret.Name, e.ValueFrom.SecretKeyRef.Name, name)
	}
	requireSecretRefsResolve(t, r, c)
	dbRef := envVar(t, c, "PACKYARD_DATABASE_URL").ValueFrom.SecretKeyRef
	require.Equal(t, lookupValue(t, prod, "database.url"), string(releaseSecret.Data[dbRef.Key]))
	require.Equal(t, lookupValue(t, prod, "s3.endpoint"), envVar(t, c, "PACKYARD_S3_ENDPOINT").Value)
	require.Equal(t, lookupValue(t, prod, "s3.bucket"), envVar(t, c, "PACKYARD_S3_BUCKET").Value)
	require.Equal(t, lookupValue(t, prod, "baseURL"), envVar(t, c, "PACKYARD_BASE_URL").Value)
	require.Equal(t, lookupValue(t, prod, "bufSDKHost"), envVar(t, c, "PACKYARD_BUF_SDK_HOST").Value)
	require.Equal(t, "true", envVar(t, c, "PACKYARD_TRUST_PROXY_HEADERS").Value)
	require.Contains(t, d.Spec.Template.Annotations, "checksum/secret")

	// Migrations: a hook Job runs `migrate` before the release's pods change; pods do not migrate.
	require.Equal(t, "false", envVar(t, c, "PACKYARD_MIGRATE_ON_START").Value)
	job := only[*batchv1.Job](t, r)
	events := strings.Split(job.Annotations["helm.sh/hook"], ",")
	require.ElementsMatch(t, []string{"pre-install", "pre-upgrade"}, events)
	require.Len(t, job.Spec.Template.Spec.Containers, 1)
	jc := job.Spec.Template.Spec.Containers[0]
	require.Equal(t, c.Image, jc.Image)
	require.Contains(t, slices.Concat(jc.Command, jc.Args), "migrate")
	require.Equal(t, corev1.RestartPolicyNever, job.Spec.Template.Spec.RestartPolicy)
	require.Equal(t, "/var/lib/packyard", envVar(t, jc, "PACKYARD_DATA_DIR").Value)
	require.NotEqual(t, d.Spec.Template.Labels["app.kubernetes.io/component"],
		job.Spec.Template.Labels["app.kubernetes.io/component"], "the Service must not select the Job's pod")

	// A pre-install hook runs before the release Secret exists: every Secret the Job reads must itself be a
	// hook for the same events, created earlier (lower weight), and still present while the Job runs.
	jobWeight := hookWeight(t, job.Annotations)
	requireSecretRefsResolve(t, r, jc)
	for _, e := range jc.Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		s := secretByName(t, r, e.ValueFrom.SecretKeyRef.Name)
		require.ElementsMatch(t, events, strings.Split(s.Annotations["helm.sh/hook"], ","),
			"env %s reads Secret %s, which is not a hook for the Job's events", e.Name, s.Name)
		require.Less(t, hookWeight(t, s.Annotations), jobWeight, "Secret %s must be created before the Job", s.Name)
		require.NotContains(t, s.Annotations["helm.sh/hook-delete-policy"], "hook-failed")
		// Same configuration as the pods, including the encryption key.
		require.Equal(t, releaseSecret.Data[e.ValueFrom.SecretKeyRef.Key], s.Data[e.ValueFrom.SecretKeyRef.Key], e.Name)
	}

	ing := only[*networkingv1.Ingress](t, r)
	require.NotEmpty(t, ing.Spec.TLS)
	require.Len(t, ing.Spec.Rules, 1)
	require.Equal(t, "packages.example.com", ing.Spec.Rules[0].Host)
	require.Contains(t, ing.Spec.TLS[0].Hosts, ing.Spec.Rules[0].Host)
	backend := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service
	svc := only[*corev1.Service](t, r)
	require.Equal(t, svc.Name, backend.Name)
	require.Equal(t, "http", backend.Port.Name)
	require.NotNil(t, svc.Spec.Ports[0].AppProtocol)
	require.Equal(t, "kubernetes.io/h2c", *svc.Spec.Ports[0].AppProtocol)
}

func hookWeight(t *testing.T, annotations map[string]string) int {
	t.Helper()
	w, err := strconv.Atoi(annotations["helm.sh/hook-weight"])
	require.NoError(t, err, "hook weight %q", annotations["helm.sh/hook-weight"])
	return w
}

func TestExistingSecretsAreReferencedNotCopied(t *testing.T) {
	r := render(t,
		"--set", "database.existingSecret=pg", "--set", "database.existingSecretKey=dsn",
		"--set", "s3.endpoint=minio:9000", "--set", "s3.bucket=b", "--set", "s3.existingSecret=s3creds",
		"--set", "redis.existingSecret=rediscreds",
		"--set", "secretKey.existingSecret=keys",
		"--set", "migrations.job.enabled=true",
	)
	require.Empty(t, all[*corev1.Secret](r), "nothing to store: every secret is an existing one")
	d := only[*appsv1.Deployment](t, r)
	job := only[*batchv1.Job](t, r)
	for _, c := range []corev1.Container{d.Spec.Template.Spec.Containers[0], job.Spec.Template.Spec.Containers[0]} {
		refs := map[string]string{}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				refs[e.Name] = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
			}
		}
		require.Equal(t, map[string]string{
			"PACKYARD_DATABASE_URL":  "pg/dsn",
			"PACKYARD_S3_ACCESS_KEY": "s3creds/s3-access-key",
			"PACKYARD_S3_SECRET_KEY": "s3creds/s3-secret-key",
			"PACKYARD_REDIS_URL":     "rediscreds/redis-url",
			"PACKYARD_SECRET_KEY":    "keys/secret-key",
		}, refs, c.Name)
	}
}

func TestInvalidConfigurationsFail(t *testing.T) {
	external := []string{
		"--set", "database.url=postgres://u:p@db:5432/packyard",
		"--set", "s3.endpoint=minio:9000", "--set", "s3.bucket=blobs",
		"--set", "redis.url=redis://redis:6379/0",
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{
			name: "replicas over embedded storage",
			args: []string{"--set", "replicaCount=2"},
			want: []string{"replicaCount=2 " + replicasMessage, "PostgreSQL (database.url", "S3 (s3.endpoint", "Redis (redis.url", "single replica"},
		},
		{
			name: "replicas without redis",
			args: []string{"--set", "replicaCount=3", "--set", "database.url=postgres://db/p", "--set", "s3.endpoint=m:9000", "--set", "s3.bucket=b"},
			want: []string{"replicaCount=3 " + replicasMessage, "missing: Redis (redis.url or redis.existingSecret)."},
		},
		{
			name: "replicas without s3 bucket",
			args: append(slices.Clone(external), "--set", "replicaCount=2", "--set", "s3.bucket="),
			want: []string{"replicaCount=2 " + replicasMessage, "missing: S3 (s3.endpoint and s3.bucket)."},
		},
		{
			name: "s3 endpoint without bucket",
			args: []string{"--set", "s3.endpoint=minio:9000"},
			want: []string{"s3.endpoint is set but s3.bucket is empty"},
		},
		{
			name: "migration job with sqlite",
			args: []string{"--set", "migrations.job.enabled=true"},
			want: []string{"migrations.job.enabled requires PostgreSQL"},
		},
		{
			name: "database url of another kind",
			args: []string{"--set", "database.url=mysql://db/packyard"},
			want: []string{"database.url must be a postgres:// URL"},
		},
		{
			name: "short secret key",
			args: []string{"--set", "secretKey.value=c2hvcnQ="},
			want: []string{"secretKey.value must be 32 bytes encoded in base64"},
		},
		{
			name: "short previous secret key",
			args: []string{"--set", "secretKey.previous=c2hvcnQ="},
			want: []string{"secretKey.previous must be 32 bytes encoded in base64"},
		},
		{
			name: "half the s3 credentials",
			args: []string{"--set", "s3.endpoint=m:9000", "--set", "s3.bucket=b", "--set", "s3.accessKey=a"},
			want: []string{"set both s3.accessKey and s3.secretKey"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runHelm(t, templateArgs(tc.args...)...)
			require.Error(t, err, "rendered instead of failing:\n%s", out)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}

	// The same settings with all three services render.
	r := render(t, append(slices.Clone(external), "--set", "replicaCount=2")...)
	require.EqualValues(t, 2, *only[*appsv1.Deployment](t, r).Spec.Replicas)
}

func TestChecksumAnnotationFollowsSecretContent(t *testing.T) {
	checksum := func(url string) string {
		r := render(t, "-f", productionFile, "--set", "database.url="+url)
		d := only[*appsv1.Deployment](t, r)
		sum := d.Spec.Template.Annotations["checksum/secret"]
		require.Regexp(t, `^[0-9a-f]{64}$`, sum)
		return sum
	}
	a := checksum("postgres://a@db/packyard")
	require.Equal(t, a, checksum("postgres://a@db/packyard"), "same config, same pods")
	require.NotEqual(t, a, checksum("postgres://b@db/packyard"), "a changed secret must restart the pods")
}

func TestStrictDecodingRejectsUnknownFields(t *testing.T) {
	out, err := runHelm(t, templateArgs("--show-only", "templates/deployment.yaml")...)
	require.NoError(t, err)
	docs := splitDocuments(t, out)
	require.Len(t, docs, 1)
	_, err = decodeStrict(docs[0])
	require.NoError(t, err)

	broken := strings.Replace(string(docs[0]), "containerPort:", "containerPortx:", 1)
	require.NotEqual(t, string(docs[0]), broken)
	_, err = decodeStrict([]byte(broken))
	require.ErrorContains(t, err, `unknown field "spec.template.spec.containers[0].ports[0].containerPortx"`)
}

// valuePaths records every key path of a values tree in all, and in leaves the paths a user sets directly:
// scalars, lists, empty maps, and the roots of pass-through Kubernetes objects.
func valuePaths(prefix string, v any, all, leaves map[string]bool) {
	if prefix != "" {
		all[prefix] = true
	}
	m, ok := v.(map[string]any)
	if prefix != "" && (!ok || len(m) == 0 || slices.Contains(passThrough, prefix)) {
		leaves[prefix] = true
	}
	if !ok {
		return
	}
	for k, child := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		valuePaths(p, child, all, leaves)
	}
}

// Probe and security-context values are Kubernetes objects passed through whole; they are documented as
// objects, their fields are Kubernetes' own.
var passThrough = []string{"livenessProbe", "readinessProbe", "startupProbe", "podSecurityContext", "securityContext"}

func isInsidePassThrough(p string) bool {
	return slices.ContainsFunc(passThrough, func(root string) bool { return strings.HasPrefix(p, root+".") })
}

func TestReadmeDocumentsExactlyTheValues(t *testing.T) {
	defaults := readValues(t, filepath.Join(chartDir, "values.yaml"))
	paths, leaves := map[string]bool{}, map[string]bool{}
	valuePaths("", defaults, paths, leaves)

	readme, err := os.ReadFile(filepath.Join(chartDir, "README.md"))
	require.NoError(t, err)
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Za-z0-9_.]+)` \\|").FindAllStringSubmatch(string(readme), -1) {
		documented[m[1]] = true
	}

	var undocumented []string
	for p := range leaves {
		if !documented[p] && !isInsidePassThrough(p) {
			undocumented = append(undocumented, p)
		}
	}
	sort.Strings(undocumented)
	require.Empty(t, undocumented, "values missing from the README table")

	var stale []string
	for p := range documented {
		if !paths[p] {
			stale = append(stale, p)
		}
	}
	sort.Strings(stale)
	require.Empty(t, stale, "README documents values that values.yaml lacks")

	// Every value a template reads exists in values.yaml, so no documented default is invented.
	files, err := filepath.Glob(filepath.Join(chartDir, "templates", "*"))
	require.NoError(t, err)
	ref := regexp.MustCompile(`\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)`)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range ref.FindAllStringSubmatch(string(raw), -1) {
			p := strings.TrimPrefix(m[1], ".")
			require.True(t, paths[p], "%s reads .Values.%s, which values.yaml does not define", filepath.Base(f), p)
		}
	}
}

func TestGeneratedSecretKeyIsSharedWithinOneRender(t *testing.T) {
	// Without a configured key the chart generates one; the release Secret and the hook Secret must carry
	// the same key within one render, or the Job and the pods would disagree.
	r := render(t,
		"--set", "database.url=postgres://db/packyard", "--set", "migrations.job.enabled=true")
	release := secretByName(t, r, releaseName)
	hook := secretByName(t, r, releaseName+"-migrate")
	require.Len(t, release.Data["secret-key"], 44)
	require.Equal(t, release.Data["secret-key"], hook.Data["secret-key"])
}

func TestKeyRotationPassesBothKeys(t *testing.T) {
	const current = "q9dJ1Zb3Xk3mYl1eT5sS2wq0mGm8n3vN0l1sYb0wR4A="
	const previous = "m6fshO0fNx8aHMBY9REZJoBBLHtFDirFbPfVlqOaySo="
	r := render(t, "--set", "secretKey.value="+current, "--set", "secretKey.previous="+previous)
	c := only[*appsv1.Deployment](t, r).Spec.Template.Spec.Containers[0]
	requireSecretRefsResolve(t, r, c)
	for name, want := range map[string]string{"PACKYARD_SECRET_KEY": current, "PACKYARD_SECRET_KEY_PREVIOUS": previous} {
		ref := envVar(t, c, name).ValueFrom.SecretKeyRef
		require.Equal(t, want, string(secretByName(t, r, ref.Name).Data[ref.Key]), name)
	}
}
