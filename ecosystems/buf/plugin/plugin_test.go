package plugin

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/packyard/packyard/pkg/errs"
)

func TestValidate(t *testing.T) {
	for _, v := range []string{"v1.2.3", "v0.0.0", "v1.36.11-rc.1", "v10.20.30-alpha-1.x"} {
		require.NoError(t, ValidateVersion(v), v)
	}
	for _, v := range []string{"", "1.2.3", "v1", "v1.2", "v01.2.3", "v1.2.3+build", "v1.2.3-", "v1.2.3-a..b"} {
		require.ErrorIs(t, ValidateVersion(v), errs.ErrInvalidArgument, v)
	}
	for _, d := range []string{"google.golang.org/protobuf@v1.36.11", "connectrpc.com/connect@v1.19.1", "example.com/x/y@v0.0.0-20250101000000-abcdefabcdef"} {
		require.NoError(t, ValidateGoDep(d), d)
	}
	for _, d := range []string{"", "protobuf@v1.2.3", "google.golang.org/protobuf", "google.golang.org/protobuf@latest", "google.golang.org/protobuf@v1.2.3 x", "../x.org/y@v1.0.0"} {
		require.ErrorIs(t, ValidateGoDep(d), errs.ErrInvalidArgument, d)
	}
	require.NoError(t, ValidateGoMinVersion(""))
	require.NoError(t, ValidateGoMinVersion("1.21"))
	require.NoError(t, ValidateGoMinVersion("1.22.3"))
	require.Error(t, ValidateGoMinVersion("go1.21"))
	require.Error(t, ValidateGoMinVersion("2.0"))
	require.NoError(t, ValidateBasePlugin("acme/go"))
	require.Error(t, ValidateBasePlugin("acme"))
	require.Error(t, ValidateBasePlugin("acme/go/x"))
}

func TestCompareVersions(t *testing.T) {
	ordered := []string{"v0.9.0", "v1.0.0-alpha", "v1.0.0-alpha.1", "v1.0.0-alpha.beta", "v1.0.0-beta", "v1.0.0-beta.2", "v1.0.0-beta.11", "v1.0.0-rc.1", "v1.0.0", "v1.2.0", "v1.10.0", "v2.0.0"}
	for i := range ordered {
		for j := range ordered {
			got := CompareVersions(ordered[i], ordered[j])
			switch {
			case i < j:
				require.Negative(t, got, "%s < %s", ordered[i], ordered[j])
			case i > j:
				require.Positive(t, got, "%s > %s", ordered[i], ordered[j])
			default:
				require.Zero(t, got)
			}
		}
	}
	p := latest([]Plugin{{Version: "v1.10.0", Revision: 1}, {Version: "v1.9.0", Revision: 5}, {Version: "v1.10.0", Revision: 2}, {Version: "v2.0.0-rc.1", Revision: 1}})
	require.Equal(t, "v2.0.0-rc.1", p.Version)
}

func TestFilesToGenerate(t *testing.T) {
	files := []*descriptorpb.FileDescriptorProto{
		{Name: proto.String("google/protobuf/timestamp.proto")},
		{Name: proto.String("acme/base/v1/base.proto")},
		{Name: proto.String("acme/pet/v1/pet.proto")},
	}
	imports := []bool{true, true, false}
	isImport := func(i int) bool { return imports[i] }
	require.Equal(t, []string{"acme/pet/v1/pet.proto"}, FilesToGenerate(files, isImport, false, false))
	require.Equal(t, []string{"acme/pet/v1/pet.proto"}, FilesToGenerate(files, isImport, false, true), "well-known types need imports")
	require.Equal(t, []string{"acme/base/v1/base.proto", "acme/pet/v1/pet.proto"}, FilesToGenerate(files, isImport, true, false))
	require.Equal(t, []string{"google/protobuf/timestamp.proto", "acme/base/v1/base.proto", "acme/pet/v1/pet.proto"}, FilesToGenerate(files, isImport, true, true))
}

func TestNewRequest(t *testing.T) {
	dep := &descriptorpb.FileDescriptorProto{Name: proto.String("dep.proto"), Package: proto.String("dep")}
	opts := &descriptorpb.FileOptions{GoPackage: proto.String("example.com/x")}
	main := &descriptorpb.FileDescriptorProto{Name: proto.String("x.proto"), Package: proto.String("x"), Dependency: []string{"dep.proto"}, Options: opts}
	req := NewRequest([]*descriptorpb.FileDescriptorProto{dep, main}, []string{"x.proto"}, "paths=source_relative")
	require.Equal(t, []string{"x.proto"}, req.GetFileToGenerate())
	require.Equal(t, "paths=source_relative", req.GetParameter())
	require.Nil(t, req.CompilerVersion, "the CLI sets no compiler version for plugins")
	require.Len(t, req.GetProtoFile(), 2)
	require.Same(t, dep, req.GetProtoFile()[0], "files not generated are passed as they are")
	require.Len(t, req.GetSourceFileDescriptors(), 1)
	require.Same(t, main, req.GetSourceFileDescriptors()[0])
	require.True(t, proto.Equal(main, req.GetProtoFile()[1]), "no source-retention option to strip")
	require.False(t, NewRequest(nil, nil, "").Parameter != nil, "an empty parameter is not set")
}
