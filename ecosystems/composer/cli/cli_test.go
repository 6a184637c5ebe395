package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// run executes the command tree with an invoker that records whether a
// command got as far as the service.
func run(args ...string) (invoked bool, out string, err error) {
	cmd := NewCommand(func(context.Context, any) error { invoked = true; return nil })
	var b bytes.Buffer
	cmd.SetOut(&b)
	cmd.SetErr(&b)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err = cmd.ExecuteContext(context.Background())
	return invoked, b.String(), err
}

func TestFlagsAreCheckedBeforeTheService(t *testing.T) {
	for _, args := range [][]string{
		{"add-vcs", "--org", "acme"},
		{"sync"},
		{"delete-version", "--org", "acme", "--package", "a/b"},
		{"add-upstream", "--org", "acme"},
		{"add-upstream", "--org", "acme", "--packagist", "--url", "https://repo.example"},
		{"add-upstream", "--org", "acme", "--url", "https://repo.example", "--username", "u"},
		{"mirror", "--org", "acme"},
		{"add-advisory", "--org", "acme", "--package", "a/b"},
	} {
		invoked, _, err := run(args...)
		require.Error(t, err, args)
		require.False(t, invoked, args)
	}
	invoked, _, err := run("list", "--org", "acme")
	require.NoError(t, err)
	require.True(t, invoked)
}

func TestSecretsAreReadBeforeTheService(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	require.NoError(t, os.WriteFile(key, []byte("-----BEGIN KEY-----\r\n"), 0o600))
	t.Setenv("PASSPHRASE", "pw")
	in, err := addVCS{rawURL: "ssh://git@git.example/x.git", keyFile: key, passEnv: "PASSPHRASE"}.sourceInput()
	require.NoError(t, err)
	require.Equal(t, "-----BEGIN KEY-----\n", in.SSHKey, "trailing line ends trimmed, one newline kept")
	require.Equal(t, "pw", in.SSHPassphrase)

	_, err = readSecret(key, "PASSPHRASE")
	require.ErrorContains(t, err, "not both")
	_, err = readSecret("", "PACKYARD_TEST_UNSET_VARIABLE")
	require.ErrorContains(t, err, "is not set")
	invoked, _, err := run("add-vcs", "--org", "acme", "--url", "/x", "--token-file", filepath.Join(dir, "missing"))
	require.ErrorContains(t, err, "token: ")
	require.False(t, invoked)
}
