package protodoc

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

const depProto = `syntax = "proto3";
package dep.v1;
// Money is an amount.
message Money { int64 units = 1; }
`

const ownProto = `syntax = "proto3";
package acme.pet.v1;

import "dep/v1/money.proto";
import "google/protobuf/timestamp.proto";

// Pet is an animal <script>alert(1)</script> in the store.
//   Indented line.
message Pet {
  // The pet's name.
  string name = 1;
  repeated string tags = 2;
  map<string, Kind> kinds = 3;
  dep.v1.Money price = 4; // What it costs.
  google.protobuf.Timestamp born = 5;
  optional int32 legs = 6;
  oneof owner {
    string person = 7;
    string shop = 8;
  }
  int32 old = 9 [deprecated = true];
  // Nested is inside.
  message Nested { Kind kind = 1; }
}

// Kind of pet.
enum Kind {
  // Unknown kind.
  KIND_UNSPECIFIED = 0;
  KIND_CAT = 1;
}

// PetService serves pets.
service PetService {
  // GetPet returns a pet.
  rpc GetPet(Pet) returns (Pet.Nested);
  rpc Watch(stream Pet) returns (stream dep.v1.Money);
}
`

func TestDocument(t *testing.T) {
	docs, err := Document(context.Background(), []Source{
		{Path: "acme/pet/v1/pet.proto", Content: []byte(ownProto), Own: true},
		{Path: "dep/v1/money.proto", Content: []byte(depProto), Origin: "commit-of-dep"},
	})
	require.NoError(t, err)
	require.Len(t, docs.Packages, 1)
	p := docs.Packages[0]
	require.Equal(t, "acme.pet.v1", p.Name)
	require.Equal(t, []string{"acme/pet/v1/pet.proto"}, p.Files)

	require.Len(t, p.Messages, 2)
	pet := p.Messages[0]
	require.Equal(t, "Pet", pet.Name)
	require.Equal(t, "acme.pet.v1.Pet", pet.FullName)
	require.Equal(t, "Pet is an animal <script>alert(1)</script> in the store.\n  Indented line.", pet.Comment)
	require.Equal(t, "Pet.Nested", p.Messages[1].Name)
	require.Equal(t, "Nested is inside.", p.Messages[1].Comment)

	f := map[string]Field{}
	for _, x := range pet.Fields {
		f[x.Name] = x
	}
	require.Equal(t, Field{Name: "name", Number: 1, Type: TypeRef{Name: "string"}, Comment: "The pet's name."}, f["name"])
	require.Equal(t, "repeated", f["tags"].Label)
	require.Equal(t, "string", f["kinds"].MapKey)
	require.Equal(t, TypeRef{Name: "acme.pet.v1.Kind", FullName: "acme.pet.v1.Kind", File: "acme/pet/v1/pet.proto"}, f["kinds"].Type)
	require.Equal(t, TypeRef{Name: "dep.v1.Money", FullName: "dep.v1.Money", File: "dep/v1/money.proto", Origin: "commit-of-dep"}, f["price"].Type)
	require.Equal(t, "What it costs.", f["price"].Comment)
	require.Equal(t, StandardOrigin, f["born"].Type.Origin)
	require.Equal(t, "optional", f["legs"].Label)
	require.Empty(t, f["legs"].Oneof, "a proto3 optional field's synthetic oneof is not shown")
	require.Equal(t, "owner", f["person"].Oneof)
	require.True(t, f["old"].Deprecated)

	require.Len(t, p.Enums, 1)
	require.Equal(t, "Kind of pet.", p.Enums[0].Comment)
	require.Equal(t, []EnumValue{{Name: "KIND_UNSPECIFIED", Number: 0, Comment: "Unknown kind."}, {Name: "KIND_CAT", Number: 1}}, p.Enums[0].Values)

	require.Len(t, p.Services, 1)
	s := p.Services[0]
	require.Equal(t, "PetService serves pets.", s.Comment)
	require.Equal(t, "GetPet returns a pet.", s.Methods[0].Comment)
	require.Equal(t, "acme.pet.v1.Pet.Nested", s.Methods[0].Output.FullName)
	require.True(t, s.Methods[1].ClientStreaming)
	require.True(t, s.Methods[1].ServerStreaming)
	require.Equal(t, "commit-of-dep", s.Methods[1].Output.Origin)
}

func TestDocumentErrors(t *testing.T) {
	_, err := Document(context.Background(), []Source{
		{Path: "a.proto", Content: []byte(`syntax = "proto3"; message A { Missing m = 1; }`), Own: true},
	})
	require.ErrorContains(t, err, "do not compile")
	require.ErrorContains(t, err, "Missing")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Document(ctx, []Source{{Path: "a.proto", Content: []byte(`syntax = "proto3"; message A {}`), Own: true}})
	require.ErrorIs(t, err, context.Canceled)
}

func TestDocumentPackagesInOrder(t *testing.T) {
	docs, err := Document(context.Background(), []Source{
		{Path: "z.proto", Content: []byte(`syntax = "proto3"; package b; message Z {}`), Own: true},
		{Path: "a.proto", Content: []byte(`syntax = "proto3"; package b; message A {}`), Own: true},
		{Path: "c.proto", Content: []byte(`syntax = "proto3"; package a; message C {}`), Own: true},
	})
	require.NoError(t, err)
	require.Len(t, docs.Packages, 2)
	require.Equal(t, "a", docs.Packages[0].Name)
	require.Equal(t, []string{"a.proto", "z.proto"}, docs.Packages[1].Files)
	require.Equal(t, "A", docs.Packages[1].Messages[0].Name)
}
