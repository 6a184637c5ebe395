package s3_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/packyard/packyard/pkg/blob"
	"github.com/packyard/packyard/pkg/blob/blobtest"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/testenv"
	"github.com/packyard/packyard/storage/s3"
)

func testConfig(tb testing.TB) s3.Config {
	srv := testenv.S3Server(tb)
	return s3.Config{
		Endpoint:  srv.Endpoint,
		Bucket:    srv.Bucket,
		AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey,
		Region:    srv.Region,
	}
}

// newStore creates a fresh bucket on the test MinIO server and removes it,
// with everything in it, when the test ends.
func newStore(tb testing.TB, mutate func(*s3.Config)) *s3.Store {
	tb.Helper()
	cfg := testConfig(tb)
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := s3.New(tb.Context(), cfg, zaptest.NewLogger(tb))
	require.NoError(tb, err)
	require.NoError(tb, s.EnsureBucket(tb.Context()))
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := s.Client().RemoveBucketWithOptions(ctx, cfg.Bucket, minio.RemoveBucketOptions{ForceDelete: true})
		if err != nil {
			tb.Errorf("remove test bucket %s: %v", cfg.Bucket, err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return newStore(t, nil) }, blobtest.BufferAllowance(s3.PartSize))
}

// TestConformancePrefixed runs the suite on a store confined to a key
// prefix.
func TestConformancePrefixed(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		return newStore(t, func(c *s3.Config) { c.Prefix = "tenant/one" })
	}, blobtest.BufferAllowance(s3.PartSize))
}

func BenchmarkStore(b *testing.B) {
	blobtest.Bench(b, func(b *testing.B) blob.Store { return newStore(b, nil) })
}

func TestConfigValidate(t *testing.T) {
	good := s3.Config{Endpoint: "127.0.0.1:9000", Bucket: "packyard", AccessKey: "a", SecretKey: "s"}
	cases := []struct {
		name   string
		mutate func(*s3.Config)
		want   string // substring of the error; "" for valid
	}{
		{"valid", func(*s3.Config) {}, ""},
		{"valid-host-only", func(c *s3.Config) { c.Endpoint = "s3.example.test" }, ""},
		{"valid-env-credentials", func(c *s3.Config) { c.AccessKey, c.SecretKey = "", "" }, ""},
		{"valid-prefix", func(c *s3.Config) { c.Prefix = "a/b/" }, ""},
		{"no-endpoint", func(c *s3.Config) { c.Endpoint = "" }, "endpoint is empty"},
		{"scheme", func(c *s3.Config) { c.Endpoint = "https://s3.example.test" }, "without a scheme"},
		{"path", func(c *s3.Config) { c.Endpoint = "s3.example.test/bucket" }, "without a path"},
		{"empty-port", func(c *s3.Config) { c.Endpoint = "s3.example.test:" }, "host[:port]"},
		{"no-bucket", func(c *s3.Config) { c.Bucket = "" }, "bucket is empty"},
		{"bad-bucket", func(c *s3.Config) { c.Bucket = "Upper_Case" }, `bucket "Upper_Case"`},
		{"half-credentials", func(c *s3.Config) { c.SecretKey = "" }, "access key and the secret key"},
		{"bad-prefix", func(c *s3.Config) { c.Prefix = "../x" }, "prefix"},
		{"absolute-prefix", func(c *s3.Config) { c.Prefix = "/x" }, "prefix"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := good
			c.mutate(&cfg)
			err := cfg.Validate()
			_, newErr := s3.New(t.Context(), cfg, nil)
			if c.want == "" {
				require.NoError(t, err)
				require.NoError(t, newErr)
				return
			}
			require.ErrorIs(t, err, errs.ErrInvalidArgument)
			require.ErrorContains(t, err, c.want)
			require.ErrorIs(t, newErr, errs.ErrInvalidArgument)
		})
	}
	require.NotContains(t, good.String(), good.SecretKey+"@")
	require.Equal(t, "http://127.0.0.1:9000/packyard/", good.String())
}

func TestUnreachableEndpoint(t *testing.T) {
	// Nothing listens on port 1 of the loopback address.
	s, err := s3.New(t.Context(), s3.Config{Endpoint: "127.0.0.1:1", Bucket: "packyard", AccessKey: "a", SecretKey: "secret-value"}, nil)
	require.NoError(t, err, "New does no network I/O")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	err = s.EnsureBucket(ctx)
	require.ErrorIs(t, err, errs.ErrUnavailable)
	require.ErrorContains(t, err, "127.0.0.1:1")
	require.NotContains(t, err.Error(), "secret-value")
	require.ErrorIs(t, s.Ping(ctx), errs.ErrUnavailable)
	_, err = s.Stat(ctx, "some/key")
	require.ErrorIs(t, err, errs.ErrUnavailable)
	require.NotErrorIs(t, err, errs.ErrNotFound, "an outage must not look like a missing object")
}

func TestWrongCredentials(t *testing.T) {
	cfg := testConfig(t)
	cfg.SecretKey = "not-the-secret"
	s, err := s3.New(t.Context(), cfg, nil)
	require.NoError(t, err)
	err = s.EnsureBucket(t.Context())
	require.ErrorIs(t, err, errs.ErrUnavailable)
	require.ErrorContains(t, err, cfg.Endpoint)
	require.NotContains(t, err.Error(), "not-the-secret")
}

func TestMissingBucket(t *testing.T) {
	cfg := testConfig(t) // a fresh name, never created
	s, err := s3.New(t.Context(), cfg, nil)
	require.NoError(t, err)
	err = s.Ping(t.Context())
	require.ErrorIs(t, err, errs.ErrUnavailable)
	require.ErrorContains(t, err, "does not exist")
	_, err = s.Open(t.Context(), "a/b")
	require.ErrorIs(t, err, errs.ErrUnavailable, "a missing bucket is a misconfiguration, not a missing object")
	require.ErrorIs(t, s.Put(t.Context(), "a/b", bytes.NewReader([]byte("x")), 1), errs.ErrUnavailable)
}

func TestEnsureBucketTwice(t *testing.T) {
	s := newStore(t, nil)
	require.NoError(t, s.EnsureBucket(t.Context()))
	require.NoError(t, s.Ping(t.Context()))
}

func TestPrefixIsolation(t *testing.T) {
	cfg := testConfig(t)
	whole := newStore(t, func(c *s3.Config) { *c = cfg })
	cfg.Prefix = "tenant/a/"
	tenant, err := s3.New(t.Context(), cfg, nil)
	require.NoError(t, err)
	ctx := t.Context()

	require.NoError(t, tenant.Put(ctx, "x/y", bytes.NewReader([]byte("inside")), 6))
	require.NoError(t, whole.Put(ctx, "tenant/ab/z", bytes.NewReader([]byte("sibling")), 7))
	require.NoError(t, whole.Put(ctx, "outside", bytes.NewReader([]byte("out")), 3))

	// The object sits under the prefix in the bucket.
	rc, err := whole.Open(ctx, "tenant/a/x/y")
	require.NoError(t, err)
	b, err := io.ReadAll(rc)
	rc.Close()
	require.NoError(t, err)
	require.Equal(t, "inside", string(b))

	// The prefixed store sees only its own keys, without the prefix.
	var keys []string
	require.NoError(t, tenant.List(ctx, "", func(i blob.Info) error { keys = append(keys, i.Key); return nil }))
	require.Equal(t, []string{"x/y"}, keys)
	_, err = tenant.Stat(ctx, "outside")
	require.ErrorIs(t, err, errs.ErrNotFound)
}
