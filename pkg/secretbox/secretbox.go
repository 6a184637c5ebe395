// Package secretbox encrypts credentials packyard must store and use again
// (git tokens, deploy keys, webhook secrets) with AES-256-GCM.
//
// The key comes from PACKYARD_SECRET_KEY (base64 of 32 bytes). To rotate,
// move the old key to PACKYARD_SECRET_KEY_PREVIOUS and set a new one:
// Seal always uses the current key, Open accepts either, and every sealed
// value names the key that sealed it, so a wrong key is reported as such.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/errs"
)

// KeySize is the key length in bytes.
const KeySize = 32

const (
	version  = 1
	idLen    = 4
	headLen  = 1 + idLen
	nonceLen = 12
)

// Config holds the keys, raw.
type Config struct {
	Key      []byte // current key; nil when not configured
	Previous []byte // optional: the key before the last rotation
}

// ConfigFromEnv reads PACKYARD_SECRET_KEY and PACKYARD_SECRET_KEY_PREVIOUS
// (each also as *_FILE).
func ConfigFromEnv(env config.Env) (Config, error) {
	l := config.NewLoader(env)
	var c Config
	c.Key = decodeKey(l, "PACKYARD_SECRET_KEY")
	c.Previous = decodeKey(l, "PACKYARD_SECRET_KEY_PREVIOUS")
	if c.Key == nil && c.Previous != nil {
		l.Fail("PACKYARD_SECRET_KEY", "must be set when PACKYARD_SECRET_KEY_PREVIOUS is")
	}
	return c, l.Err()
}

func decodeKey(l *config.Loader, name string) []byte {
	v := l.Secret(name)
	if v == "" {
		return nil
	}
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil {
		k, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(v), "="))
	}
	if err != nil || len(k) != KeySize {
		l.Fail(name, "must be the base64 encoding of %d random bytes (generate one with: openssl rand -base64 32)", KeySize)
		return nil
	}
	return k
}

// Box seals and opens secrets. The zero Box has no key: Seal fails with a
// clear message, and so does Open.
type Box struct {
	keys []key // current first
}

type key struct {
	id   [idLen]byte
	aead cipher.AEAD
}

// New returns a Box for cfg; a Config without keys gives a Box that refuses
// to seal.
func New(cfg Config) (*Box, error) {
	b := &Box{}
	for _, raw := range [][]byte{cfg.Key, cfg.Previous} {
		if raw == nil {
			continue
		}
		if len(raw) != KeySize {
			return nil, fmt.Errorf("secretbox: key must be %d bytes, got %d", KeySize, len(raw))
		}
		blk, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("secretbox: %w", err)
		}
		aead, err := cipher.NewGCM(blk)
		if err != nil {
			return nil, fmt.Errorf("secretbox: %w", err)
		}
		b.keys = append(b.keys, key{id: keyID(raw), aead: aead})
	}
	return b, nil
}

func keyID(raw []byte) [idLen]byte {
	sum := sha256.Sum256(append([]byte("packyard secretbox key id\x00"), raw...))
	var id [idLen]byte
	copy(id[:], sum[:])
	return id
}

// ErrNoKey is returned (wrapped in errs.ErrFailedPrecondition) when a secret
// must be sealed or opened but no key is configured.
var ErrNoKey = errors.New("no PACKYARD_SECRET_KEY configured")

// Enabled reports whether a key is configured.
func (b *Box) Enabled() bool { return b != nil && len(b.keys) > 0 }

// Seal encrypts plaintext with the current key. context binds the value to
// where it is stored (e.g. a row id): Open with another context fails.
func (b *Box) Seal(plaintext []byte, context string) ([]byte, error) {
	if !b.Enabled() {
		return nil, fmt.Errorf("%w: storing a credential needs an encryption key; set PACKYARD_SECRET_KEY to the base64 of 32 random bytes (openssl rand -base64 32): %w", ErrNoKey, errs.ErrFailedPrecondition)
	}
	k := b.keys[0]
	out := make([]byte, headLen+nonceLen, headLen+nonceLen+len(plaintext)+k.aead.Overhead())
	out[0] = version
	copy(out[1:headLen], k.id[:])
	if _, err := rand.Read(out[headLen:]); err != nil {
		return nil, fmt.Errorf("secretbox: nonce: %w", err)
	}
	return k.aead.Seal(out, out[headLen:], plaintext, aad(out[:headLen], context)), nil
}

// Open decrypts a value made by Seal with the current or the previous key.
func (b *Box) Open(sealed []byte, context string) ([]byte, error) {
	if len(sealed) < headLen+nonceLen || sealed[0] != version {
		return nil, fmt.Errorf("secretbox: not a sealed value: %w", errs.ErrInvalidArgument)
	}
	if !b.Enabled() {
		return nil, fmt.Errorf("%w: a stored credential cannot be decrypted: %w", ErrNoKey, errs.ErrFailedPrecondition)
	}
	for _, k := range b.keys {
		if string(k.id[:]) != string(sealed[1:headLen]) {
			continue
		}
		pt, err := k.aead.Open(nil, sealed[headLen:headLen+nonceLen], sealed[headLen+nonceLen:], aad(sealed[:headLen], context))
		if err != nil {
			return nil, fmt.Errorf("secretbox: the stored credential is corrupt or was moved: %w", errs.ErrFailedPrecondition)
		}
		return pt, nil
	}
	return nil, fmt.Errorf("secretbox: the stored credential was sealed with a key that is neither PACKYARD_SECRET_KEY nor PACKYARD_SECRET_KEY_PREVIOUS: %w", errs.ErrFailedPrecondition)
}

// NeedsRotation reports whether sealed was made with a key other than the
// current one (re-seal it to finish a rotation).
func (b *Box) NeedsRotation(sealed []byte) bool {
	return b.Enabled() && len(sealed) >= headLen && string(sealed[1:headLen]) != string(b.keys[0].id[:])
}

func aad(head []byte, context string) []byte {
	return append(append([]byte(nil), head...), context...)
}
