package cas_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/packyard/packyard/migrations"
	"github.com/packyard/packyard/pkg/blob"
	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/cas/castest"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/spool"
	"github.com/packyard/packyard/pkg/testenv"
	"github.com/packyard/packyard/storage/filesystem"
	"github.com/packyard/packyard/storage/memory"
	"github.com/packyard/packyard/storage/postgres"
	"github.com/packyard/packyard/storage/s3"
	"github.com/packyard/packyard/storage/sqlite"
)

// sqliteIndex is a migrated metadata store in a fresh SQLite file.
func sqliteIndex(tb testing.TB) metadata.Store {
	tb.Helper()
	db, err := sqlite.Open(tb.Context(), sqlite.Config{Path: filepath.Join(tb.TempDir(), "packyard.db")})
	require.NoError(tb, err)
	tb.Cleanup(func() { db.Close() })
	_, err = migrations.Up(tb.Context(), db)
	require.NoError(tb, err)
	return metadata.NewSQL(db)
}

// postgresIndex is a migrated metadata store in a fresh PostgreSQL database.
func postgresIndex(tb testing.TB) metadata.Store {
	tb.Helper()
	db, err := postgres.Open(tb.Context(), postgres.Config{URL: testenv.PostgresURL(tb)})
	require.NoError(tb, err)
	tb.Cleanup(func() { db.Close() })
	_, err = migrations.Up(tb.Context(), db)
	require.NoError(tb, err)
	return metadata.NewSQL(db)
}

func filesystemBlobs(tb testing.TB) blob.Store {
	tb.Helper()
	s, err := filesystem.New(filesystem.Config{Root: tb.TempDir()}, zaptest.NewLogger(tb))
	require.NoError(tb, err)
	return s
}

// s3Blobs is a fresh bucket on the test MinIO server, removed at the end.
func s3Blobs(tb testing.TB) blob.Store {
	tb.Helper()
	srv := testenv.S3Server(tb)
	s, err := s3.New(tb.Context(), s3.Config{
		Endpoint: srv.Endpoint, Bucket: srv.Bucket, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Region: srv.Region,
	}, zaptest.NewLogger(tb))
	require.NoError(tb, err)
	require.NoError(tb, s.EnsureBucket(tb.Context()))
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Client().RemoveBucketWithOptions(ctx, srv.Bucket, minio.RemoveBucketOptions{ForceDelete: true}); err != nil {
			tb.Errorf("remove test bucket %s: %v", srv.Bucket, err)
		}
	})
	return s
}

var drivers = []struct {
	name  string
	blobs func(testing.TB) blob.Store
	index func(testing.TB) metadata.Store
}{
	{"memory+sqlite", func(testing.TB) blob.Store { return memory.New() }, sqliteIndex},
	{"filesystem+sqlite", filesystemBlobs, sqliteIndex},
	{"s3+sqlite", s3Blobs, sqliteIndex},
	{"s3+postgres", s3Blobs, postgresIndex},
}

func TestConformance(t *testing.T) {
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			castest.Run(t, func(t *testing.T) castest.Backends {
				return castest.Backends{Blobs: d.blobs(t), Index: d.index(t)}
			})
		})
	}
}

// BenchmarkCAS measures Put of new content, Put of content already stored
// (hash, spool, Stat, index touch: no upload) and Open, with 1 MiB blobs.
func BenchmarkCAS(b *testing.B) {
	const size = 1 << 20
	for _, d := range drivers {
		if d.name == "s3+postgres" {
			continue // the same blob path as s3+sqlite
		}
		b.Run(d.name, func(b *testing.B) {
			store := cas.New(d.blobs(b), d.index(b), cas.Options{TempDir: b.TempDir()})
			content := func(i int) []byte {
				data := bytes.Repeat([]byte{byte(i)}, size)
				copy(data, fmt.Sprintf("blob %d", i))
				return data
			}
			b.Run("PutNew", func(b *testing.B) {
				b.SetBytes(size)
				i := 0
				for b.Loop() {
					data := content(i)
					i++
					if _, err := store.Put(b.Context(), bytes.NewReader(data), cas.WithDigests(cas.SHA1)); err != nil {
						b.Fatal(err)
					}
				}
			})
			dup := content(-1)
			first, err := store.Put(b.Context(), bytes.NewReader(dup))
			require.NoError(b, err)
			b.Run("PutDuplicate", func(b *testing.B) {
				b.SetBytes(size)
				for b.Loop() {
					if _, err := store.Put(b.Context(), bytes.NewReader(dup), cas.WithDigests(cas.SHA1)); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("Open", func(b *testing.B) {
				b.SetBytes(size)
				for b.Loop() {
					rc, err := store.Open(b.Context(), first.Digest)
					if err != nil {
						b.Fatal(err)
					}
					n, err := io.Copy(io.Discard, rc)
					rc.Close()
					if err != nil || n != size {
						b.Fatalf("read %d bytes: %v", n, err)
					}
				}
			})
		})
	}
}

// Upload spools go through the kernel's spool: its cap refuses content
// that would not fit, naming the limit, and every spool file is gone after.
func TestSpoolCap(t *testing.T) {
	sp, err := spool.New(t.TempDir(), 64)
	require.NoError(t, err)
	store := cas.New(memory.New(), sqliteIndex(t), cas.Options{Spool: sp})
	_, err = store.Put(t.Context(), bytes.NewReader(make([]byte, 100)))
	require.ErrorIs(t, err, errs.ErrTooLarge)
	require.ErrorContains(t, err, "PACKYARD_TMP_MAX_SIZE")
	d, err := store.Put(t.Context(), bytes.NewReader(make([]byte, 50)))
	require.NoError(t, err)
	require.EqualValues(t, 50, d.Size)
	require.Zero(t, sp.Used())
	entries, err := os.ReadDir(sp.Dir())
	require.NoError(t, err)
	require.Empty(t, entries)
}
