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

// TestDownloadEncodings: a push stores its commit's encoding; the first
// Download by a client accepting gzip stores its gzip, which later ones are
// sent as it is; a Download of a commit whose encodings are missing serves
// the same files and stores the encodings again; a JSON client gets the
// same files as a binary one.
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
	encodings := func(kind string) int {
		var n int
		require.NoError(t, e.db.QueryRow(ctx, `SELECT COUNT(*) FROM buf_commit_encodings WHERE commit_id = ? AND kind = ?`, id, kind).Scan(&n))
		return n
	}
	require.Equal(t, 1, encodings(encodingFiles), "a push stores the encoding")
	require.Equal(t, 0, encodings(encodingFilesGzip), "but not its gzip")
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
	require.Equal(t, 1, encodings(encodingFilesGzip), "the first Download accepting gzip stores the gzip")
	require.Equal(t, files, download(c.download), "later ones are sent the stored gzip")

	_, err = e.db.Exec(ctx, `DELETE FROM buf_commit_encodings WHERE commit_id = ?`, id)
	require.NoError(t, err)
	_, err = e.svc.meta.BumpGeneration(ctx, e.db, genScope) // as every writer of the buf tables does
	require.NoError(t, err)
	require.Equal(t, files, download(c.download), "without its encoding, a commit's files are read one by one")
	require.Equal(t, 1, encodings(encodingFiles), "and its encoding is stored again")
	require.Equal(t, files, download(c.download))
	require.Equal(t, 1, encodings(encodingFilesGzip), "and its gzip")

	jsonClient := modulev1connect.NewDownloadServiceClient(e.client, e.url, connect.WithProtoJSON(), connect.WithInterceptors(bearer(token)))
	require.Equal(t, files, download(jsonClient), "the JSON codec gets the files too")
}
