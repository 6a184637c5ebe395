package castest

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/blob"
	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/errs"
)

// testPutAll: a batch stores what Put would store, once per distinct
// content, with the extra digests asked for, and reuses (touching, not
// uploading) what is already there.
func testPutAll(t *testing.T, f fixture) {
	ctx := t.Context()
	known, err := f.Put(ctx, bytes.NewReader([]byte("abc")))
	require.NoError(t, err)
	infoKnown, err := f.blobs.Stat(ctx, cas.Key(known.Digest))
	require.NoError(t, err)
	rowKnown, err := f.index.GetBlob(ctx, known.Digest)
	require.NoError(t, err)
	f.clock.Advance(time.Minute)

	contents := [][]byte{[]byte("hello"), []byte("abc"), []byte("hello"), nil}
	ds, err := f.PutAll(ctx, contents, cas.WithDigests(cas.SHA1))
	require.NoError(t, err)
	require.Len(t, ds, len(contents))
	for i, c := range contents {
		one, err := f.Put(ctx, bytes.NewReader(c), cas.WithDigests(cas.SHA1))
		require.NoError(t, err)
		require.Equal(t, one, ds[i], "content %d: the descriptor Put gives", i)
		require.Equal(t, c, nilIfEmpty(readBlob(t, f, ds[i].Digest)))
		st := mustStat(t, f, ds[i].Digest)
		require.Equal(t, ds[i].Extra[cas.SHA1], st.Extra[cas.SHA1])
	}
	require.Equal(t, helloSHA256, ds[0].Digest)
	require.Equal(t, abcSHA256, ds[1].Digest)

	info, err := f.blobs.Stat(ctx, cas.Key(known.Digest))
	require.NoError(t, err)
	require.Equal(t, infoKnown.ModTime, info.ModTime, "existing content must not be uploaded again")
	row, err := f.index.GetBlob(ctx, known.Digest)
	require.NoError(t, err)
	require.True(t, row.TouchedAt.After(rowKnown.TouchedAt), "reuse must touch the index entry (GC relies on it)")
	require.Equal(t, "a9993e364706816aba3e25717850c26c9cd0d89d", row.Extra["sha1"], "a batch adds the extra digests it computed")

	_, err = f.PutAll(ctx, [][]byte{[]byte("x")}, cas.WithExpected(cas.SHA256, abcSHA256))
	require.ErrorIs(t, err, errs.ErrInvalidArgument)
}

// testPutAllMaxSize: one content over the size limit refuses the batch, and
// nothing of it is stored.
func testPutAllMaxSize(t *testing.T, f fixture) {
	_, err := f.PutAll(t.Context(), [][]byte{[]byte("hello"), make([]byte, 1025)})
	require.ErrorIs(t, err, errs.ErrTooLarge)
	requireAbsent(t, f, helloSHA256)
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// testPutAllPacked: a packed batch writes its small new contents as one
// object; each reads back whole, by Open (with seeks) and by ReadAll; a
// later batch reuses them without writing; GC removes the pack only once no
// row names it, and an old pack without rows (a crash before its rows) too.
func testPutAllPacked(t *testing.T, f fixture) {
	ctx := t.Context()
	const grace = time.Hour
	own, err := f.Put(ctx, bytes.NewReader([]byte("own object")))
	require.NoError(t, err)
	before := allObjects(t, f)
	contents := [][]byte{[]byte("alpha"), []byte("beta"), []byte("own object"), []byte("gamma"), []byte("alpha"), nil}
	ds, err := f.PutAll(ctx, contents, cas.Packed(), cas.WithDigests(cas.SHA1))
	require.NoError(t, err)
	if before != nil {
		require.Len(t, allObjects(t, f), len(before)+1, "one pack for the four new contents")
	}
	require.Equal(t, own.Digest, ds[2].Digest)
	for i, c := range contents {
		one, err := f.Put(ctx, bytes.NewReader(c), cas.WithDigests(cas.SHA1))
		require.NoError(t, err)
		require.Equal(t, one, ds[i], "content %d: the descriptor Put gives", i)
		require.Equal(t, c, nilIfEmpty(readBlob(t, f, ds[i].Digest)))
	}
	rc, err := f.Open(ctx, ds[3].Digest)
	require.NoError(t, err)
	_, err = rc.Seek(2, io.SeekStart)
	require.NoError(t, err)
	rest, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.Equal(t, "mma", string(rest), "a seek inside a packed blob")
	require.NoError(t, rc.Close())

	digests := []string{ds[3].Digest, ds[0].Digest, ds[2].Digest, ds[1].Digest}
	read, err := f.ReadAll(ctx, digests, 100)
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte("gamma"), []byte("alpha"), []byte("own object"), []byte("beta")}, read)
	_, err = f.ReadAll(ctx, digests, 4)
	require.ErrorIs(t, err, errs.ErrTooLarge)
	_, err = f.ReadAll(ctx, []string{helloSHA256}, 100)
	require.ErrorIs(t, err, errs.ErrNotFound)

	// Reused: nothing written again.
	n := len(allObjects(t, f))
	_, err = f.PutAll(ctx, [][]byte{[]byte("alpha"), []byte("beta")}, cas.Packed())
	require.NoError(t, err)
	require.Len(t, allObjects(t, f), n, "a batch of recorded contents writes nothing")

	// GC: the pack stays while one of its blobs is referenced.
	require.NoError(t, f.index.AddBlobRef(ctx, f.index.DB(), ds[1].Digest, "test:keep"))
	f.clock.Advance(2 * grace)
	stats, err := f.GC(ctx, grace)
	require.NoError(t, err)
	require.Zero(t, stats.Packs, "a pack with a referenced blob stays")
	requireAbsent(t, f, ds[0].Digest)
	require.Equal(t, []byte("beta"), readBlob(t, f, ds[1].Digest))
	require.NoError(t, f.index.RemoveBlobRef(ctx, f.index.DB(), ds[1].Digest, "test:keep"))
	f.clock.Advance(2 * grace)
	stats, err = f.GC(ctx, grace)
	require.NoError(t, err)
	require.Equal(t, 1, stats.Packs, "the pack goes with its last row")
	if before != nil {
		require.Empty(t, allObjects(t, f), "nothing left")
	}

	// A pack written by a batch that crashed before its rows goes once old.
	_, err = f.PutAll(ctx, [][]byte{[]byte("one"), []byte("two")}, cas.Packed())
	require.NoError(t, err)
	_, err = f.index.DB().Exec(ctx, `DELETE FROM blobs`)
	require.NoError(t, err)
	stats, err = f.GC(ctx, 100*grace) // the clock is some hours ahead of the objects' times
	require.NoError(t, err)
	require.Zero(t, stats.Packs, "a young pack without rows stays (its batch may still be recording)")
	if before != nil {
		stats, err = f.GC(ctx, grace)
		require.NoError(t, err)
		require.Equal(t, 1, stats.Packs, "an old pack without rows goes")
		require.Empty(t, allObjects(t, f))
	}
}

// allObjects returns every object's key (nil when the store cannot list).
func allObjects(t *testing.T, f fixture) []string {
	t.Helper()
	l, ok := f.blobs.(blob.Lister)
	if !ok {
		return nil
	}
	var keys []string
	require.NoError(t, l.List(t.Context(), "", func(i blob.Info) error { keys = append(keys, i.Key); return nil }))
	return keys
}
