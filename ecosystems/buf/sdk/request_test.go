package sdk

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/errs"
)

func TestCompile(t *testing.T) {
	base := Source{Owner: "acme", Module: "base", Files: map[string][]byte{
		"base/v1/base.proto":   []byte("syntax = \"proto3\";\npackage acme.base.v1;\nmessage Id { string value = 1; }\n"),
		"base/v1/unused.proto": []byte("syntax = \"proto3\";\npackage acme.base.v1;\nmessage Unused {}\n"),
	}}
	pet := Source{Owner: "acme", Module: "petapis", Files: map[string][]byte{
		"pet/v1/pet.proto": []byte(`syntax = "proto3";
package acme.pet.v1;
option go_package = "example.com/ignored";
import "base/v1/base.proto";
import "google/protobuf/timestamp.proto";
// Pet is a pet.
message Pet { acme.base.v1.Id id = 1; google.protobuf.Timestamp born = 2; }
`),
		"root.proto": []byte("syntax = \"proto3\";\npackage acme;\nimport \"pet/v1/pet.proto\";\nmessage Root { acme.pet.v1.Pet pet = 1; }\n"),
	}}
	c, err := Compile(context.Background(), pet, []Source{base})
	require.NoError(t, err)
	require.Equal(t, []string{"pet/v1/pet.proto", "root.proto"}, c.Generate)
	var names []string
	for _, f := range c.Files {
		names = append(names, f.GetName())
	}
	require.Equal(t, []string{"base/v1/base.proto", "google/protobuf/timestamp.proto", "pet/v1/pet.proto", "root.proto"}, names)
	require.Equal(t, map[string]int{"base/v1/base.proto": 1, "pet/v1/pet.proto": 0, "root.proto": 0}, c.Modules)
	require.NotNil(t, c.Files[2].GetSourceCodeInfo(), "comments reach the plugin")

	sdk := ModulePath{Host: "sdk.example.com", Owner: "acme", Module: "petapis", PluginOwner: "protocolbuffers", Plugin: "go"}
	SetGoPackages(c, func(i int) ModulePath {
		if i == 0 {
			return sdk
		}
		return sdk.WithModule("acme", "base")
	})
	require.Equal(t, "sdk.example.com/gen/go/acme/base/protocolbuffers/go/base/v1;basev1", c.Files[0].GetOptions().GetGoPackage())
	require.Equal(t, "google.golang.org/protobuf/types/known/timestamppb", c.Files[1].GetOptions().GetGoPackage())
	require.Equal(t, "sdk.example.com/gen/go/acme/petapis/protocolbuffers/go/pet/v1;petv1", c.Files[2].GetOptions().GetGoPackage())
	require.Equal(t, "sdk.example.com/gen/go/acme/petapis/protocolbuffers/go", c.Files[3].GetOptions().GetGoPackage())

	_, err = Compile(context.Background(), pet, nil)
	require.ErrorIs(t, err, errs.ErrFailedPrecondition, "a missing dependency")
	require.Contains(t, err.Error(), "base/v1/base.proto")
	_, err = Compile(context.Background(), Source{Files: map[string][]byte{}}, nil)
	require.ErrorIs(t, err, errs.ErrFailedPrecondition)
}
