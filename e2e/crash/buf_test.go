package crash

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"sort"
	"time"

	"buf.build/gen/go/bufbuild/registry/connectrpc/go/buf/registry/module/v1/modulev1connect"
	modulev1 "buf.build/gen/go/bufbuild/registry/protocolbuffers/go/buf/registry/module/v1"
	ownerv1 "buf.build/gen/go/bufbuild/registry/protocolbuffers/go/buf/registry/owner/v1"
	"connectrpc.com/connect"

	"github.com/packyard/packyard/ecosystems/buf/module"
)

// bufClients are the Connect clients the load and the checks use.
type bufClients struct {
	module   modulev1connect.ModuleServiceClient
	upload   modulev1connect.UploadServiceClient
	commit   modulev1connect.CommitServiceClient
	label    modulev1connect.LabelServiceClient
	download modulev1connect.DownloadServiceClient
}

type bearer string

func (b bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+string(b))
		return next(ctx, req)
	}
}
func (b bearer) WrapStreamingClient(n connect.StreamingClientFunc) connect.StreamingClientFunc {
	return n
}
func (b bearer) WrapStreamingHandler(n connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return n
}

func newBufClients(hc *http.Client, base, token string) bufClients {
	o := connect.WithInterceptors(bearer(token))
	return bufClients{
		module:   modulev1connect.NewModuleServiceClient(hc, base, o),
		upload:   modulev1connect.NewUploadServiceClient(hc, base, o),
		commit:   modulev1connect.NewCommitServiceClient(hc, base, o),
		label:    modulev1connect.NewLabelServiceClient(hc, base, o),
		download: modulev1connect.NewDownloadServiceClient(hc, base, o),
	}
}

// push is one buf push the load makes: one module's files, labels, and
// optionally a dependency on the base module.
type push struct {
	owner, module string
	files         map[string]string
	labels        []string
	dep           string // base commit id, or ""
	depB5         []byte
}

const baseProto = "syntax = \"proto3\";\npackage base.v1;\nmessage Id { string value = 1; }\n"

// bufPushes makes n pushes over five modules; every third one depends on
// the base module.
func bufPushes(owner string, n int, baseID string, baseB5 []byte) []push {
	out := make([]push, n)
	for j := range out {
		m := j % 5
		path := fmt.Sprintf("mod%d/v1/mod%d.proto", m, m)
		body := fmt.Sprintf("syntax = \"proto3\";\npackage mod%d.v1;\n", m)
		p := push{owner: owner, module: fmt.Sprintf("mod%d", m), labels: []string{"main", fmt.Sprintf("p%d", j)}}
		if j%3 == 0 {
			body += "import \"base/v1/base.proto\";\n"
			p.dep, p.depB5 = baseID, baseB5
		}
		body += fmt.Sprintf("// push %d\nmessage Mod%d { string id = 1; }\n", j, m)
		p.files = map[string]string{path: body}
		out[j] = p
	}
	return out
}

func (c bufClients) createModule(ctx context.Context, owner, name string) error {
	_, err := c.module.CreateModules(ctx, connect.NewRequest(modulev1.CreateModulesRequest_builder{
		Values: []*modulev1.CreateModulesRequest_Value{modulev1.CreateModulesRequest_Value_builder{
			OwnerRef: ownerv1.OwnerRef_builder{Name: &owner}.Build(), Name: name,
		}.Build()},
	}.Build()))
	return err
}

// send makes one Upload attempt and returns the commit.
func (c bufClients) send(ctx context.Context, p push) (*modulev1.Commit, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var files []*modulev1.File
	for path, s := range p.files {
		files = append(files, modulev1.File_builder{Path: path, Content: []byte(s)}.Build())
	}
	var labels []*modulev1.ScopedLabelRef
	for _, l := range p.labels {
		labels = append(labels, modulev1.ScopedLabelRef_builder{Name: &l}.Build())
	}
	ref := modulev1.ModuleRef_builder{Name: modulev1.ModuleRef_Name_builder{Owner: p.owner, Module: p.module}.Build()}.Build()
	var deps []string
	if p.dep != "" {
		deps = []string{p.dep}
	}
	res, err := c.upload.Upload(ctx, connect.NewRequest(modulev1.UploadRequest_builder{
		Contents:     []*modulev1.UploadRequest_Content{modulev1.UploadRequest_Content_builder{ModuleRef: ref, Files: files, ScopedLabelRefs: labels}.Build()},
		DepCommitIds: deps,
	}.Build()))
	if err != nil {
		return nil, err
	}
	if len(res.Msg.GetCommits()) != 1 {
		return nil, fmt.Errorf("upload answered %d commits", len(res.Msg.GetCommits()))
	}
	return res.Msg.GetCommits()[0], nil
}

// b5 recomputes a commit's B5 digest from its files and its dependencies'
// B5 digests.
func b5(files map[string][]byte, depB5 [][]byte) ([]byte, error) {
	var fds []module.FileDigest
	for p, b := range files {
		fds = append(fds, module.FileDigest{Path: p, Shake256: hex.EncodeToString(module.Shake256(b))})
	}
	fd, err := module.FilesDigest(fds)
	if err != nil {
		return nil, err
	}
	return module.B5(fd, depB5), nil
}

// checkCommit downloads commit id and checks its files are p's, its digest
// is want and B5 over the downloaded files gives want again.
func (c bufClients) checkCommit(ctx context.Context, id string, p push, want []byte) error {
	got, err := c.commit.GetCommits(ctx, connect.NewRequest(modulev1.GetCommitsRequest_builder{
		ResourceRefs: []*modulev1.ResourceRef{modulev1.ResourceRef_builder{Id: &id}.Build()}}.Build()))
	if err != nil {
		return fmt.Errorf("GetCommits %s: %w", id, err)
	}
	if d := got.Msg.GetCommits()[0].GetDigest().GetValue(); !bytes.Equal(d, want) {
		return fmt.Errorf("commit %s: digest %x, acknowledged %x", id, d, want)
	}
	dl, err := c.download.Download(ctx, connect.NewRequest(modulev1.DownloadRequest_builder{Values: []*modulev1.DownloadRequest_Value{
		modulev1.DownloadRequest_Value_builder{ResourceRef: modulev1.ResourceRef_builder{Id: &id}.Build()}.Build()}}.Build()))
	if err != nil {
		return fmt.Errorf("Download %s: %w", id, err)
	}
	files := map[string][]byte{}
	for _, f := range dl.Msg.GetContents()[0].GetFiles() {
		files[f.GetPath()] = f.GetContent()
	}
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(files) != len(p.files) {
		return fmt.Errorf("commit %s: files %v, pushed %d", id, names, len(p.files))
	}
	for path, s := range p.files {
		if string(files[path]) != s {
			return fmt.Errorf("commit %s: %s differs from what was pushed", id, path)
		}
	}
	var deps [][]byte
	if p.depB5 != nil {
		deps = [][]byte{p.depB5}
	}
	sum, err := b5(files, deps)
	if err != nil {
		return err
	}
	if !bytes.Equal(sum, want) {
		return fmt.Errorf("commit %s: B5 of the downloaded files %x, acknowledged %x", id, sum, want)
	}
	return nil
}

// downloadCommit downloads commit id.
func (c bufClients) downloadCommit(ctx context.Context, id string) error {
	_, err := c.download.Download(ctx, connect.NewRequest(modulev1.DownloadRequest_builder{Values: []*modulev1.DownloadRequest_Value{
		modulev1.DownloadRequest_Value_builder{ResourceRef: modulev1.ResourceRef_builder{Id: &id}.Build()}.Build()}}.Build()))
	return err
}

// labelCommit resolves owner/module:label to its commit id.
func (c bufClients) labelCommit(ctx context.Context, owner, mod, label string) (string, error) {
	res, err := c.label.GetLabels(ctx, connect.NewRequest(modulev1.GetLabelsRequest_builder{LabelRefs: []*modulev1.LabelRef{
		modulev1.LabelRef_builder{Name: modulev1.LabelRef_Name_builder{Owner: owner, Module: mod, Label: label}.Build()}.Build()}}.Build()))
	if err != nil {
		return "", err
	}
	return res.Msg.GetLabels()[0].GetCommitId(), nil
}
