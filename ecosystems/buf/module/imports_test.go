package module

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/errs"
)

func TestParseImports(t *testing.T) {
	got, err := ParseImports("pet/v1/pet.proto", []byte(`syntax = "proto3";
package pet.v1;
import "base/v1/base.proto";
import public "google/protobuf/timestamp.proto";
message Pet { base.v1.Id id = 1; google.protobuf.Timestamp born = 2; }
`))
	require.NoError(t, err)
	require.Equal(t, []string{"base/v1/base.proto", "google/protobuf/timestamp.proto"}, got)

	got, err = ParseImports("e.proto", []byte("edition = \"2023\";\npackage e;\nmessage E { string s = 1; }\n"))
	require.NoError(t, err)
	require.Empty(t, got)

	for name, src := range map[string]string{
		"syntax error":    "syntax = \"proto3\";\nmessage {",
		"duplicate field": "syntax = \"proto3\";\nmessage M { string a = 1; string b = 1; }\n",
		"not protobuf":    "\x00\x01binary",
		"bad syntax name": "syntax = \"proto4\";\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseImports("bad.proto", []byte(src))
			require.Error(t, err)
			require.ErrorIs(t, err, errs.ErrInvalidArgument)
			require.Contains(t, err.Error(), "bad.proto")
		})
	}
}
