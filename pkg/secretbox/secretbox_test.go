package secretbox

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/errs"
)

func newKey(t *testing.T) []byte {
	k := make([]byte, KeySize)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return k
}

func TestSealOpen(t *testing.T) {
	b, err := New(Config{Key: newKey(t)})
	require.NoError(t, err)
	s1, err := b.Seal([]byte("ghp_secret"), "source:1")
	require.NoError(t, err)
	s2, err := b.Seal([]byte("ghp_secret"), "source:1")
	require.NoError(t, err)
	require.NotEqual(t, s1, s2, "random nonce")
	require.False(t, bytes.Contains(s1, []byte("ghp_secret")))

	pt, err := b.Open(s1, "source:1")
	require.NoError(t, err)
	require.Equal(t, "ghp_secret", string(pt))

	_, err = b.Open(s1, "source:2")
	require.ErrorIs(t, err, errs.ErrFailedPrecondition, "bound to its context")

	s1[len(s1)-1] ^= 1
	_, err = b.Open(s1, "source:1")
	require.ErrorIs(t, err, errs.ErrFailedPrecondition, "tampering detected")

	_, err = b.Open([]byte("short"), "source:1")
	require.ErrorIs(t, err, errs.ErrInvalidArgument)
}

func TestRotation(t *testing.T) {
	oldKey, newKeyB := newKey(t), newKey(t)
	old, err := New(Config{Key: oldKey})
	require.NoError(t, err)
	sealed, err := old.Seal([]byte("deploy key"), "c")
	require.NoError(t, err)

	rotated, err := New(Config{Key: newKeyB, Previous: oldKey})
	require.NoError(t, err)
	pt, err := rotated.Open(sealed, "c")
	require.NoError(t, err)
	require.Equal(t, "deploy key", string(pt))
	require.True(t, rotated.NeedsRotation(sealed))
	resealed, err := rotated.Seal(pt, "c")
	require.NoError(t, err)
	require.False(t, rotated.NeedsRotation(resealed))

	onlyNew, err := New(Config{Key: newKeyB})
	require.NoError(t, err)
	_, err = onlyNew.Open(sealed, "c")
	require.ErrorIs(t, err, errs.ErrFailedPrecondition)
	require.ErrorContains(t, err, "neither PACKYARD_SECRET_KEY nor PACKYARD_SECRET_KEY_PREVIOUS")
	pt, err = onlyNew.Open(resealed, "c")
	require.NoError(t, err)
	require.Equal(t, "deploy key", string(pt))
}

func TestNoKey(t *testing.T) {
	b, err := New(Config{})
	require.NoError(t, err)
	require.False(t, b.Enabled())
	_, err = b.Seal([]byte("x"), "c")
	require.ErrorIs(t, err, ErrNoKey)
	require.ErrorIs(t, err, errs.ErrFailedPrecondition)
	require.ErrorContains(t, err, "set PACKYARD_SECRET_KEY")
	var nilBox *Box
	require.False(t, nilBox.Enabled())
}

func TestConfigFromEnv(t *testing.T) {
	k := newKey(t)
	enc := base64.StdEncoding.EncodeToString(k)
	c, err := ConfigFromEnv(config.Map(map[string]string{"PACKYARD_SECRET_KEY": enc}))
	require.NoError(t, err)
	require.Equal(t, k, c.Key)
	require.Nil(t, c.Previous)

	file := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(file, []byte(enc+"\n"), 0o600))
	c, err = ConfigFromEnv(config.Map(map[string]string{"PACKYARD_SECRET_KEY_FILE": file, "PACKYARD_SECRET_KEY_PREVIOUS": enc}))
	require.NoError(t, err)
	require.Equal(t, k, c.Key)
	require.Equal(t, k, c.Previous)

	c, err = ConfigFromEnv(config.Map(nil))
	require.NoError(t, err)
	require.Nil(t, c.Key)

	for name, env := range map[string]map[string]string{
		"not base64":        {"PACKYARD_SECRET_KEY": "!!!not base64!!!"},
		"short":             {"PACKYARD_SECRET_KEY": base64.StdEncoding.EncodeToString([]byte("short"))},
		"previous only":     {"PACKYARD_SECRET_KEY_PREVIOUS": enc},
		"previous is short": {"PACKYARD_SECRET_KEY": enc, "PACKYARD_SECRET_KEY_PREVIOUS": "YQ=="},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ConfigFromEnv(config.Map(env))
			require.Error(t, err)
			require.Contains(t, err.Error(), "PACKYARD_SECRET_KEY")
			require.NotContains(t, err.Error(), enc, "never echo a key")
		})
	}
}
