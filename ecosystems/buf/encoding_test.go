package buf

import (
	"context"
	"testing"

	"buf.build/gen/go/bufbuild/registry/connectrpc/go/buf/registry/module/v1/modulev1connect"
	modulev1 "buf.build/gen/go/bufbuild/registry/protocolbuffers/go/buf/registry/module/v1"
	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/metadata"
)

// TestDownloadEncodings: a push stores its commit's encoding; a Download
// of a commit whose encoding is missing serves the same files and stores the
// encoding again; a JSON client gets the same files as a binary one.
func TestDownloadEncodings(t *testing.T) {
	e := newEnv(t, "sqlite", DefaultConfig())
	ctx := context.Background()
	token := e.org("acme", false, metadata.RoleWrite)
	c := e.clients(token)
	c.create(t, "acme", "enc", modulev1.ModuleVisibility_MODULE_VISIBILITY_PRIVATE)
	files := map[string]string{"a.proto": proto3("a"), "b/b.proto": proto3("b"), "README.md": "# enc\n"}
	commits, err := c.push(ctx, nil, content{owner: "acme", name: "enc", files: files})
	require.NoError(t, err)
	id := commits[0].GetId()
	encodings := func() int {
		var n int
		require.NoError(t, e.db.QueryRow(ctx, `SELECT COUNT(*) FROM buf_commit_encodings WHERE commit_id = ?`, id).Scan(&n))
		return n
	}
	require.Equal(t, 1, encodings(), "a push stores the encoding")
	req := modulev1.DownloadRequest_builder{Values: []*modulev1.DownloadRequest_Value{
		modulev1.DownloadRequest_Value_builder{ResourceRef: v1ID(id)}.Build()}}.Build()
	download := func(d modulev1connect.DownloadServiceClient) map[string]string {
		res, err := d.Download(ctx, connect.NewRequest(req))
		require.NoError(t, err)
		require.Len(t, res.Msg.GetContents(), 1)
		require.Equal(t, id, res.Msg.GetContents()[0].GetCommit().GetId())
		got := map[string]string{}
		for _, f := range res.Msg.GetContents()[0].GetFiles() {
			got[f.GetPath()] = string(f.GetContent())
		}
		return got
	}
	require.Equal(t, files, download(c.download))

	_, err = e.db.Exec(ctx, `DELETE FROM buf_commit_encodings WHERE commit_id = ?`, id)
	require.NoError(t, err)
	require.Equal(t, files, download(c.download), "without its encoding, a commit's files are read one by one")
	require.Equal(t, 1, encodings(), "and its encoding is stored again")

	jsonClient := modulev1connect.NewDownloadServiceClient(e.client, e.url, connect.WithProtoJSON(), connect.WithInterceptors(bearer(token)))
	require.Equal(t, files, download(jsonClient), "the JSON codec gets the files too")
}
