// Package testenv gives tests the real services they need: a fresh
// PostgreSQL database, a Redis database and an S3 bucket on the local
// processes that scripts/test.sh starts. The addresses come from
// PACKYARD_TEST_PG_URL, PACKYARD_TEST_REDIS_URL and PACKYARD_TEST_S3_*.
//
// When a variable is missing the test is skipped, unless
// PACKYARD_TEST_REQUIRE_SERVICES=1 (set by scripts/test.sh and CI): then it
// fails, so a missing service can never pass as a skipped test.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Required reports whether missing services fail tests instead of skipping them.
func Required() bool { return os.Getenv("PACKYARD_TEST_REQUIRE_SERVICES") == "1" }

func need(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if Required() {
			t.Fatalf("%s is not set but PACKYARD_TEST_REQUIRE_SERVICES=1: the test services did not start (run scripts/test.sh)", name)
		}
		t.Skipf("%s not set; run the suite with scripts/test.sh to use real services", name)
	}
	return v
}

// RandomName returns a short random lower-case identifier with a prefix.
func RandomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// PostgresURL creates a fresh, empty database on the test PostgreSQL server,
// drops it when the test ends, and returns its URL.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := need(t, "PACKYARD_TEST_PG_URL")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to test PostgreSQL %s: %v", base, err)
	}
	defer conn.Close(context.Background())
	name := RandomName("t_")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("PACKYARD_TEST_PG_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// RedisURL returns the test Redis URL. Tests share the server; namespace keys
// with RandomName.
func RedisURL(t testing.TB) string {
	t.Helper()
	return need(t, "PACKYARD_TEST_REDIS_URL")
}

// S3 is the test S3 server's settings.
type S3 struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	Region    string
	Bucket    string // a fresh bucket name (not yet created)
}

// S3Server returns the test S3 (MinIO) settings and a fresh bucket name.
func S3Server(t testing.TB) S3 {
	t.Helper()
	ep := need(t, "PACKYARD_TEST_S3_ENDPOINT")
	return S3{
		Endpoint:  strings.TrimPrefix(strings.TrimPrefix(ep, "http://"), "https://"),
		AccessKey: envOr("PACKYARD_TEST_S3_ACCESS_KEY", "packyard"),
		SecretKey: envOr("PACKYARD_TEST_S3_SECRET_KEY", "packyard-secret"),
		Region:    envOr("PACKYARD_TEST_S3_REGION", "us-east-1"),
		Bucket:    strings.ReplaceAll(RandomName("t-"), "_", "-"),
	}
}

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

// String describes s without its secret.
func (s S3) String() string { return fmt.Sprintf("s3://%s/%s", s.Endpoint, s.Bucket) }
