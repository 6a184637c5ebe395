package streamio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/errs"
)

func TestExact(t *testing.T) {
	cases := []struct {
		name    string
		data    string
		size    int64
		oneByte bool // read through iotest.OneByteReader
		wantErr bool
	}{
		{"equal", "hello", 5, false, false},
		{"equal-one-byte-reads", "hello", 5, true, false},
		{"empty", "", 0, false, false},
		{"unknown", "hello", -1, false, false},
		{"shorter", "hell", 5, false, true},
		{"shorter-one-byte-reads", "hell", 5, true, true},
		{"longer", "hello!", 5, false, true},
		{"longer-one-byte-reads", "hello!", 5, true, true},
		{"content-for-empty", "x", 0, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r io.Reader = strings.NewReader(c.data)
			if c.oneByte {
				r = iotest.OneByteReader(r)
			}
			got, err := io.ReadAll(Exact(r, c.size))
			if c.wantErr {
				require.ErrorIs(t, err, errs.ErrInvalidArgument)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.data, string(got))
		})
	}
}

// A consumer that stops after the declared size still sees excess content
// on the Read that delivered the last byte.
func TestExactReportsExcessOnLastRead(t *testing.T) {
	r := Exact(strings.NewReader("abcdef"), 3)
	buf := make([]byte, 3)
	n, err := r.Read(buf)
	require.Equal(t, 3, n)
	require.ErrorIs(t, err, errs.ErrInvalidArgument)
}

func TestWithContextAndRecorder(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	rec := Record(WithContext(ctx, bytes.NewReader(make([]byte, 100))))
	_, err := rec.Read(make([]byte, 10))
	require.NoError(t, err)
	require.NoError(t, rec.Err())
	cancel()
	_, err = rec.Read(make([]byte, 10))
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, rec.Err(), context.Canceled)

	boom := errors.New("boom")
	rec = Record(iotest.ErrReader(boom))
	_, _ = rec.Read(make([]byte, 1))
	require.ErrorIs(t, rec.Err(), boom)

	require.NoError(t, CheckEmpty(strings.NewReader("")))
	require.ErrorIs(t, CheckEmpty(strings.NewReader("x")), errs.ErrInvalidArgument)
}
