package sdk

import (
	"archive/zip"
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/semver"

	"github.com/packyard/packyard/pkg/errs"
)

func TestVersion(t *testing.T) {
	created := time.Date(2025, 11, 20, 10, 30, 15, 999, time.FixedZone("CET", 3600))
	v := NewVersion("v1.36.11", 1, "3F2A9C1B7D4E4a5b8c9d0e1f2a3b4c5d", created, true)
	require.Equal(t, "v1.36.11-20251120093015-3f2a9c1b7d4e.1", v.String())
	off := NewVersion("v1.36.11", 2, "3f2a9c1b7d4e4a5b8c9d0e1f2a3b4c5d", created, false)
	require.Equal(t, "v1.36.11-00000000000000-3f2a9c1b7d4e.2", off.String())

	for _, s := range []string{v.String(), off.String()} {
		require.True(t, semver.IsValid(s), s)
		p, err := ParseVersion(s)
		require.NoError(t, err)
		require.Equal(t, s, p.String())
	}
	rc := NewVersion("v1.2.0-rc.1", 3, "3f2a9c1b7d4e4a5b8c9d0e1f2a3b4c5d", created, true)
	require.Equal(t, "v1.2.0-rc.1-20251120093015-3f2a9c1b7d4e.3", rc.String())
	p, err := ParseVersion(rc.String())
	require.NoError(t, err)
	require.Equal(t, rc.String(), p.String())
	require.Equal(t, "v1.2.0-rc.1", p.Plugin)

	p, _ = ParseVersion(v.String())
	require.Equal(t, "3f2a9c1b7d4e", p.CommitPrefix)
	require.Equal(t, 1, p.Revision)
	require.True(t, p.Time.Equal(created.Truncate(time.Second)))
	p, _ = ParseVersion(off.String())
	require.True(t, p.Time.IsZero())

	// Later commits on the default label sort higher; commits off it lowest.
	later := NewVersion("v1.36.11", 1, "000000000000ffff0000000000000000", created.Add(time.Second), true)
	require.Positive(t, semver.Compare(later.String(), v.String()))
	require.Negative(t, semver.Compare(off.String(), v.String()))

	for _, bad := range []string{"", "v1.36.11", "main", "v1.36.11-20251120093015-3f2a9c1b7d4e",
		"v1.36.11-20251120093015-3F2A9C1B7D4E.1", "v1.36.11-2025112009301-3f2a9c1b7d4e.1",
		"v1.36.11-20251120093015-3f2a9c1b7d4e.0", "v1.36.11-20251399093015-3f2a9c1b7d4e.1",
		"v01.36.11-20251120093015-3f2a9c1b7d4e.1", "3f2a9c1b7d4e4a5b8c9d0e1f2a3b4c5d"} {
		_, err := ParseVersion(bad)
		require.ErrorIs(t, err, errs.ErrInvalidArgument, bad)
	}
}

func TestModulePath(t *testing.T) {
	p := ModulePath{Host: "sdk.example.com", Owner: "acme", Module: "petapis", PluginOwner: "acme", Plugin: "go"}
	require.Equal(t, "sdk.example.com/gen/go/acme/petapis/acme/go", p.String())
	require.Equal(t, "sdk.example.com/gen/go/acme/petapis/acme/go/pet/v1", p.ImportPath("pet/v1"))
	require.Equal(t, p.String(), p.ImportPath("."))
	require.Equal(t, "sdk.example.com/gen/go/acme/petapis/protocolbuffers/go", p.WithPlugin("protocolbuffers", "go").String())
	require.Equal(t, "sdk.example.com/gen/go/acme/base/acme/go", p.WithModule("acme", "base").String())

	got, err := ParseModulePath("sdk.example.com", p.String())
	require.NoError(t, err)
	require.Equal(t, p, got)
	for _, bad := range []string{"other.example.com/gen/go/acme/petapis/acme/go", "sdk.example.com/gen/go/acme/petapis/acme",
		"sdk.example.com/gen/go/acme/petapis/acme/go/pet", "sdk.example.com/gen/go/acme/../acme/go", "sdk.example.com/gen/go/Acme/petapis/acme/go"} {
		_, err := ParseModulePath("sdk.example.com", bad)
		require.ErrorIs(t, err, errs.ErrNotFound, bad)
	}

	require.NoError(t, ValidateHost("sdk.example.com"))
	require.NoError(t, ValidateHost("127.0.0.1"))
	for _, bad := range []string{"", "sdk.example.com:8080", "localhost", "Sdk.example.com", "-a.example.com", "a/b.example.com", "a b.example.com"} {
		require.Error(t, ValidateHost(bad), bad)
	}
}

func TestGoMod(t *testing.T) {
	mod := "sdk.example.com/gen/go/acme/petapis/connectrpc/go"
	got := GoMod(mod, "1.22", []Require{
		{Path: "sdk.example.com/gen/go/acme/petapis/protocolbuffers/go", Version: "v1.36.11-20251120093015-3f2a9c1b7d4e.1"},
		{Path: "connectrpc.com/connect", Version: "v1.19.0"},
		{Path: "connectrpc.com/connect", Version: "v1.21.1"},
		{Path: mod, Version: "v1.0.0"},
	})
	require.Equal(t, "module "+mod+"\n\ngo 1.22\n\nrequire (\n"+
		"\tconnectrpc.com/connect v1.21.1\n"+
		"\tsdk.example.com/gen/go/acme/petapis/protocolbuffers/go v1.36.11-20251120093015-3f2a9c1b7d4e.1\n)\n", string(got))
	require.Equal(t, "module "+mod+"\n\ngo 1.21\n", string(GoMod(mod, "", nil)))

	r, err := ParseGoDep("google.golang.org/protobuf@v1.36.12")
	require.NoError(t, err)
	require.Equal(t, Require{Path: "google.golang.org/protobuf", Version: "v1.36.12"}, r)
	for _, bad := range []string{"google.golang.org/protobuf", "google.golang.org/protobuf@latest", "@v1.0.0", "x y@v1.0.0", "example.com/m@v1.0"} {
		_, err := ParseGoDep(bad)
		require.ErrorIs(t, err, errs.ErrInvalidArgument, bad)
	}
}

func TestZipIsDeterministic(t *testing.T) {
	mod, version := "sdk.example.com/gen/go/acme/petapis/acme/go", "v1.36.11-20251120093015-3f2a9c1b7d4e.1"
	files := []File{
		{Path: "pet/v1/pet.pb.go", Content: []byte("package petv1\n")},
		{Path: "go.mod", Content: GoMod(mod, "", nil)},
	}
	a, err := ZipBytes(mod, version, files)
	require.NoError(t, err)
	time.Sleep(1100 * time.Millisecond) // a clock that moved changes nothing
	b, err := ZipBytes(mod, version, []File{files[1], files[0]})
	require.NoError(t, err)
	require.Equal(t, a, b, "the same files in another order give the same bytes")

	zr, err := zip.NewReader(bytes.NewReader(a), int64(len(a)))
	require.NoError(t, err)
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		require.True(t, f.Modified.Equal(zipTime), f.Name)
	}
	require.Equal(t, []string{mod + "@" + version + "/go.mod", mod + "@" + version + "/pet/v1/pet.pb.go"}, names)
	rc, err := zr.File[1].Open()
	require.NoError(t, err)
	body, _ := io.ReadAll(rc)
	require.Equal(t, "package petv1\n", string(body))

	for _, bad := range [][]File{
		{{Path: "../x.go"}}, {{Path: "/abs.go"}}, {{Path: "a.go"}, {Path: "A.go"}},
	} {
		_, err := ZipBytes(mod, version, bad)
		require.ErrorIs(t, err, errs.ErrInvalidArgument)
	}
	_, err = ZipBytes(mod, "latest", files)
	require.ErrorIs(t, err, errs.ErrInvalidArgument)
}

func TestParseProxyPath(t *testing.T) {
	const host = "sdk.example.com"
	mod := host + "/gen/go/acme/petapis/connectrpc/go"
	for p, want := range map[string]proxyRequest{
		mod + "/@v/list":      {Kind: "list"},
		mod + "/@latest":      {Kind: "latest"},
		mod + "/@v/main.info": {Kind: "info", Query: "main"},
		mod + "/@v/v1.36.11-20251120093015-3f2a9c1b7d4e.1.mod": {Kind: "mod", Query: "v1.36.11-20251120093015-3f2a9c1b7d4e.1"},
		mod + "/@v/v1.36.11-20251120093015-3f2a9c1b7d4e.1.zip": {Kind: "zip", Query: "v1.36.11-20251120093015-3f2a9c1b7d4e.1"},
		mod + "/@v/!release.info":                              {Kind: "info", Query: "Release"},
	} {
		got, err := ParseProxyPath(host, p)
		require.NoError(t, err, p)
		require.Equal(t, mod, got.Module.String(), p)
		require.Equal(t, want.Kind, got.Kind, p)
		require.Equal(t, want.Query, got.Query, p)
	}
	for _, bad := range []string{"", mod, mod + "/@v/", mod + "/@v/x.tar", mod + "/@v/list/x", mod + "/@v/a/b.info",
		mod + "/@v/.info", "other.example.com/gen/go/acme/petapis/connectrpc/go/@v/list", mod + "/pkg/@v/list",
		host + "/gen/go/Acme/petapis/connectrpc/go/@v/list"} {
		_, err := ParseProxyPath(host, bad)
		require.ErrorIs(t, err, errs.ErrNotFound, bad)
	}
}
