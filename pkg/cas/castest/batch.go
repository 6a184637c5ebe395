package castest

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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
