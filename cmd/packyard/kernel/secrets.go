package kernel

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/secretbox"
)

// provideSecretBox builds the box that encrypts stored credentials from
// PACKYARD_SECRET_KEY. On the embedded defaults without a key, packyard
// keeps one in the data directory (secret.key, mode 0600) so that a
// single-replica installation works without configuration; with PostgreSQL
// the key must be configured, since every replica needs the same one.
func provideSecretBox(env config.Env, c Config, log *zap.Logger) (*secretbox.Box, error) {
	sc, err := secretbox.ConfigFromEnv(env)
	if err != nil {
		return nil, err
	}
	if sc.Key == nil && c.DatabaseURL == "" {
		key, err := dataDirKey(c.DataDir)
		if err != nil {
			return nil, fmt.Errorf("PACKYARD_DATA_DIR: secret key: %w", err)
		}
		sc.Key = key
		log.Debug("using the data directory's secret key", zap.String("path", filepath.Join(c.DataDir, "secret.key")))
	}
	return secretbox.New(sc)
}

func dataDirKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, "secret.key")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		key := make([]byte, secretbox.KeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return dataDirKey(dir) // created concurrently (the CLI and the daemon)
		}
		if err != nil {
			return nil, err
		}
		if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
		return key, f.Close()
	}
	if err != nil {
		return nil, err
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != secretbox.KeySize {
		return nil, fmt.Errorf("%s is not the base64 encoding of %d bytes", path, secretbox.KeySize)
	}
	return key, nil
}
