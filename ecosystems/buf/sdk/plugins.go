package sdk

import (
	"context"

	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"

	"github.com/packyard/packyard/ecosystems/buf/plugin"
)

// Plugin is a stored plugin revision.
type Plugin = plugin.Plugin

// Catalog finds plugins. It authorizes nothing: the caller does.
type Catalog interface {
	// Resolve finds a plugin revision: version "" is the latest version,
	// revision 0 the latest revision; errs.ErrNotFound when there is none.
	Resolve(ctx context.Context, owner, name, version string, revision int) (Plugin, error)
}

// Runner runs a plugin, sandboxed and within its limits.
type Runner interface {
	Run(ctx context.Context, p Plugin, req *pluginpb.CodeGeneratorRequest) (*pluginpb.CodeGeneratorResponse, error)
}

// RequestFunc builds a plugin's CodeGeneratorRequest the way the buf CLI
// builds it for a local plugin.
type RequestFunc func(files []*descriptorpb.FileDescriptorProto, generate []string, parameter string) *pluginpb.CodeGeneratorRequest

var (
	_ Catalog     = (*plugin.Catalog)(nil)
	_ Runner      = (*plugin.Runner)(nil)
	_ RequestFunc = plugin.NewRequest
)
