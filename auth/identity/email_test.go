package identity

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Only an address the provider says it verified counts, in lower case.
func TestVerifiedEmail(t *testing.T) {
	for _, tc := range []struct {
		claims map[string]any
		want   string
	}{
		{map[string]any{"email": "Jo@Corp.example", "email_verified": true}, "jo@corp.example"},
		{map[string]any{"email": "jo@corp.example", "email_verified": "true"}, "jo@corp.example"},
		{map[string]any{"email": "jo@corp.example", "email_verified": false}, ""},
		{map[string]any{"email": "jo@corp.example", "email_verified": "false"}, ""},
		{map[string]any{"email": "jo@corp.example"}, ""},
		{map[string]any{"email": "not an address", "email_verified": true}, ""},
		{map[string]any{"email_verified": true}, ""},
	} {
		got, ok := verifiedEmail(tc.claims)
		require.Equal(t, tc.want, got, tc.claims)
		require.Equal(t, tc.want != "", ok, tc.claims)
	}
}
