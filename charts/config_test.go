package charts

import (
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

const allSettingsFile = "testdata/all-settings.yaml"

// configVariable is one row of the configuration table of packyard's README.
type configVariable struct {
	secret bool // the row says "Secret."
	former bool // the row is a variable's former name, still read when the current one is unset
}

// readmeConfiguration reads the variables of the configuration table of packyard's README (the table
// cmd/packyard's TestReadmeConfigurationTable compares with the code).
func readmeConfiguration(t *testing.T) map[string]configVariable {
	t.Helper()
	raw, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(raw), "\n## Configuration\n")
	require.True(t, ok, "README has a Configuration section")
	section, _, _ = strings.Cut(section, "\n## ")
	out := map[string]configVariable{}
	row := regexp.MustCompile("(?m)^\\| `(PACKYARD_[A-Z0-9_]+)` \\|([^|]*)\\|(.*)$")
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		desc := m[3]
		out[m[1]] = configVariable{secret: strings.Contains(desc, "Secret."), former: strings.HasPrefix(strings.TrimSpace(desc), "Former name of")}
	}
	require.Greater(t, len(out), 40, "the configuration table is read")
	return out
}

func packyardEnv(c corev1.Container) []string {
	var names []string
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "PACKYARD_") {
			names = append(names, e.Name)
		}
	}
	sort.Strings(names)
	return names
}

// The chart can set every variable of the README's configuration table (but a former name, which the current
// one replaces), so a variable added to packyard and its README cannot be forgotten here; secrets reach the
// container only through secretKeyRef, never as values.
func TestChartSetsEveryConfigurationVariable(t *testing.T) {
	vars := readmeConfiguration(t)
	var want []string
	for name, v := range vars {
		if !v.former {
			want = append(want, name)
		}
	}
	sort.Strings(want)

	r := render(t, "-f", productionFile, "-f", allSettingsFile)
	d := only[*appsv1.Deployment](t, r)
	c := d.Spec.Template.Spec.Containers[0]
	got := packyardEnv(c)
	var missing, unknown []string
	for _, n := range want {
		if !slices.Contains(got, n) {
			missing = append(missing, n)
		}
	}
	for _, n := range got {
		if _, ok := vars[n]; !ok {
			unknown = append(unknown, n)
		}
	}
	require.Empty(t, missing, "README variables the chart does not set (add a value, its template env and its chart README row)")
	require.Empty(t, unknown, "variables the chart sets that the README table does not list")
	require.Equal(t, got, packyardEnv(only[*batchv1.Job](t, r).Spec.Template.Spec.Containers[0]), "the migration Job gets the same variables")

	for _, e := range c.Env {
		v, ok := vars[e.Name]
		if !ok || !v.secret {
			continue
		}
		require.Empty(t, e.Value, "%s is a secret: never a plain value", e.Name)
		require.NotNil(t, e.ValueFrom, "%s comes from a Secret", e.Name)
		require.NotNil(t, e.ValueFrom.SecretKeyRef, "%s comes from a Secret", e.Name)
	}

	// Values keep their form: whole numbers stay whole, booleans are words.
	require.Equal(t, "100000", envVar(t, c, "PACKYARD_RATELIMIT_REQUESTS_PER_TOKEN").Value)
	require.Equal(t, "true", envVar(t, c, "PACKYARD_OIDC_LINK_BY_EMAIL").Value)
	require.Equal(t, "off", envVar(t, c, "PACKYARD_COMPOSER_SYNC_INTERVAL").Value)
	require.Equal(t, "registry:", envVar(t, c, "PACKYARD_REDIS_PREFIX").Value)
	ref := envVar(t, c, "PACKYARD_OIDC_CLIENT_SECRET").ValueFrom.SecretKeyRef
	require.Equal(t, "packyard-oidc", ref.Name)
	require.Equal(t, "oidc-client-secret", ref.Key)

	// The TLS files are the mounted kubernetes.io/tls Secret's.
	var mount *corev1.VolumeMount
	for i, m := range c.VolumeMounts {
		if m.Name == "tls" {
			mount = &c.VolumeMounts[i]
		}
	}
	require.NotNil(t, mount, "the TLS Secret is mounted")
	require.True(t, mount.ReadOnly)
	require.Equal(t, mount.MountPath+"/tls.crt", envVar(t, c, "PACKYARD_TLS_CERT_FILE").Value)
	require.Equal(t, mount.MountPath+"/tls.key", envVar(t, c, "PACKYARD_TLS_KEY_FILE").Value)
	i := slices.IndexFunc(d.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "tls" })
	require.GreaterOrEqual(t, i, 0)
	require.Equal(t, "packyard-tls", d.Spec.Template.Spec.Volumes[i].Secret.SecretName)
}

// With the defaults the chart sets none of the optional variables: packyard's own defaults apply.
func TestChartLeavesUnsetSettingsToPackyard(t *testing.T) {
	c := only[*appsv1.Deployment](t, render(t)).Spec.Template.Spec.Containers[0]
	require.Equal(t, []string{"PACKYARD_DATA_DIR", "PACKYARD_HTTP_ADDR", "PACKYARD_LOG_FORMAT", "PACKYARD_LOG_LEVEL",
		"PACKYARD_MIGRATE_ON_START", "PACKYARD_SECRET_KEY", "PACKYARD_SHUTDOWN_TIMEOUT", "PACKYARD_TRUST_PROXY_HEADERS"}, packyardEnv(c))
}
