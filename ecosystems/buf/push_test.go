package buf

import (
	"context"
	"io"
	"sync/atomic"
	"testing"

	modulev1 "buf.build/gen/go/bufbuild/registry/protocolbuffers/go/buf/registry/module/v1"
	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/blob"
	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/metadata"
)

// writeCountingCAS counts the writes asked of the CAS.
type writeCountingCAS struct {
	cas.Store
	writes *atomic.Int64
}

func (c writeCountingCAS) Put(ctx context.Context, r io.Reader, opts ...cas.PutOption) (cas.Descriptor, error) {
	c.writes.Add(1)
	return c.Store.Put(ctx, r, opts...)
}

func (c writeCountingCAS) PutAll(ctx context.Context, contents [][]byte, opts ...cas.PutOption) ([]cas.Descriptor, error) {
	c.writes.Add(int64(len(contents)))
	return c.Store.PutAll(ctx, contents, opts...)
}

func TestRepushWritesNothingSQLite(t *testing.T)   { testRepushWritesNothing(t, "sqlite") }
func TestRepushWritesNothingPostgres(t *testing.T) { testRepushWritesNothing(t, "postgres") }

// testRepushWritesNothing: a first push of many files writes a few objects
// (the files packed together) and every file reads back, whole and by
// path; an identical re-push returns the same commit and writes no object
// and no index row.
func testRepushWritesNothing(t *testing.T, dialect string) {
	e := newEnv(t, dialect, DefaultConfig())
	ctx := context.Background()
	c := e.clients(e.org("acme", false, metadata.RoleWrite))
	c.create(t, "acme", "many", modulev1.ModuleVisibility_MODULE_VISIBILITY_PRIVATE)
	files, _ := bigModule(300, "repush")

	l, ok := e.k.Blobs.(blob.Lister)
	require.True(t, ok, "the blob store lists its objects")
	objects := func() map[string]blob.Info {
		out := map[string]blob.Info{}
		require.NoError(t, l.List(ctx, "", func(i blob.Info) error { out[i.Key] = i; return nil }))
		return out
	}
	rows := func() int {
		var n int
		require.NoError(t, e.db.QueryRow(ctx, `SELECT count(*) FROM blobs`).Scan(&n))
		return n
	}
	beforeObjects, beforeRows := len(objects()), rows()
	first, err := c.push(ctx, nil, content{owner: "acme", name: "many", files: files})
	require.NoError(t, err)
	id := first[0].GetId()
	require.Equal(t, beforeRows+301, rows(), "a row per file and one for the Download encoding")
	require.LessOrEqual(t, len(objects())-beforeObjects, 2, "the files packed into one object, beside the encoding")

	download := func(paths ...string) map[string]string {
		res, err := c.download.Download(ctx, connect.NewRequest(modulev1.DownloadRequest_builder{Values: []*modulev1.DownloadRequest_Value{
			modulev1.DownloadRequest_Value_builder{ResourceRef: v1ID(id), Paths: paths}.Build()}}.Build()))
		require.NoError(t, err)
		got := map[string]string{}
		for _, f := range res.Msg.GetContents()[0].GetFiles() {
			got[f.GetPath()] = string(f.GetContent())
		}
		return got
	}
	require.Equal(t, files, download(), "the whole module, from its encoding")
	some := map[string]string{"big/v0/m7.proto": files["big/v0/m7.proto"], "big/v2/m250.proto": files["big/v2/m250.proto"]}
	require.Equal(t, some, download("big/v0/m7.proto", "big/v2/m250.proto"), "files by path, from the pack")

	var writes atomic.Int64
	e.svc.cas = writeCountingCAS{Store: e.svc.cas, writes: &writes}
	afterObjects, afterRows := objects(), rows()
	again, err := c.push(ctx, nil, content{owner: "acme", name: "many", files: files})
	require.NoError(t, err)
	require.Equal(t, id, again[0].GetId(), "an identical re-push returns the existing commit")
	require.Zero(t, writes.Load(), "an identical re-push asks the CAS to write nothing")
	require.Equal(t, afterObjects, objects(), "an identical re-push writes no object")
	require.Equal(t, afterRows, rows(), "an identical re-push writes no index row")
}
