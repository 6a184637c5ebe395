package composer

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/errs"
)

func sign(newHash func() hash.Hash, secret string, body []byte) string {
	m := hmac.New(newHash, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func TestVerifyPushSignature(t *testing.T) {
	body := []byte(`{"ref":"refs/heads/main"}`)
	const secret = "s3cret"
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	tests := []struct {
		name string
		h    http.Header
		ok   bool
	}{
		{"github sha256", hdr("X-Hub-Signature-256", "sha256="+sign(sha256.New, secret, body), "X-GitHub-Event", "push"), true},
		{"github sha1 only", hdr("X-Hub-Signature", "sha1="+sign(sha1.New, secret, body)), true},
		{"gitea", hdr("X-Gitea-Signature", sign(sha256.New, secret, body)), true},
		{"forgejo", hdr("X-Forgejo-Signature", sign(sha256.New, secret, body)), true},
		{"bitbucket", hdr("X-Hub-Signature", "sha256="+sign(sha256.New, secret, body)), true},
		{"gitlab", hdr("X-Gitlab-Token", secret), true},
		{"github wrong secret", hdr("X-Hub-Signature-256", "sha256="+sign(sha256.New, "other", body)), false},
		{"github tampered body", hdr("X-Hub-Signature-256", "sha256="+sign(sha256.New, secret, []byte("x"))), false},
		{"gitea wrong", hdr("X-Gitea-Signature", sign(sha256.New, "other", body)), false},
		{"gitlab wrong", hdr("X-Gitlab-Token", "nope"), false},
		{"malformed hex", hdr("X-Hub-Signature-256", "sha256=zz"), false},
		{"none", hdr(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyPushSignature(tt.h, body, secret)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, errs.ErrPermissionDenied)
		})
	}
	require.ErrorIs(t, VerifyPushSignature(hdr("X-Gitlab-Token", ""), body, ""), errs.ErrFailedPrecondition)
	require.True(t, IsPing(hdr("X-GitHub-Event", "ping")))
	require.False(t, IsPing(hdr("X-GitHub-Event", "push")))
}
