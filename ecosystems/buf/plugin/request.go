package plugin

import (
	"slices"

	"github.com/bufbuild/protocompile/options"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

// NewRequest builds the CodeGeneratorRequest the buf CLI gives a local
// plugin: every file in ProtoFile (dependencies first, as in an image); the
// files named in generate are FileToGenerate, in the order of files, and
// appear twice: as they are in SourceFileDescriptors, and with their
// source-retention options stripped in ProtoFile. The parameter is set
// when not empty; no compiler version is set (the CLI sets none for
// plugins). files are not modified.
func NewRequest(files []*descriptorpb.FileDescriptorProto, generate []string, parameter string) *pluginpb.CodeGeneratorRequest {
	req := &pluginpb.CodeGeneratorRequest{ProtoFile: make([]*descriptorpb.FileDescriptorProto, len(files))}
	if parameter != "" {
		req.Parameter = proto.String(parameter)
	}
	gen := make(map[string]bool, len(generate))
	for _, g := range generate {
		gen[g] = true
	}
	for i, f := range files {
		if !gen[f.GetName()] {
			req.ProtoFile[i] = f
			continue
		}
		req.FileToGenerate = append(req.FileToGenerate, f.GetName())
		req.SourceFileDescriptors = append(req.SourceFileDescriptors, f)
		stripped, err := options.StripSourceRetentionOptionsFromFile(f)
		if err != nil {
			// Only a malformed descriptor fails; the plugin sees it as it is.
			stripped = f
		}
		req.ProtoFile[i] = stripped
	}
	return req
}

// wellKnownTypes are the files the buf CLI counts as well-known types.
var wellKnownTypes = []string{
	"google/protobuf/any.proto", "google/protobuf/api.proto", "google/protobuf/c_sharp_features.proto",
	"google/protobuf/compiler/plugin.proto", "google/protobuf/cpp_features.proto",
	"google/protobuf/cpp_file_options.proto", "google/protobuf/cpp_options.proto",
	"google/protobuf/descriptor.proto", "google/protobuf/duration.proto", "google/protobuf/empty.proto",
	"google/protobuf/field_mask.proto", "google/protobuf/go_features.proto",
	"google/protobuf/java_features.proto", "google/protobuf/json_enumvalue_options.proto",
	"google/protobuf/json_options.proto", "google/protobuf/source_context.proto",
	"google/protobuf/struct.proto", "google/protobuf/timestamp.proto", "google/protobuf/type.proto",
	"google/protobuf/wrappers.proto",
}

// IsWellKnownType reports whether path is a well-known type's file.
func IsWellKnownType(path string) bool { return slices.Contains(wellKnownTypes, path) }

// FilesToGenerate applies the CLI's rules to an image's files: files that
// are not imports are generated; imports too with includeImports, except
// well-known types unless includeWKT is also set. isImport reports whether
// the image marks files[i] as an import.
func FilesToGenerate(files []*descriptorpb.FileDescriptorProto, isImport func(i int) bool, includeImports, includeWKT bool) []string {
	var out []string
	for i, f := range files {
		if isImport(i) && (!includeImports || (!includeWKT && IsWellKnownType(f.GetName()))) {
			continue
		}
		out = append(out, f.GetName())
	}
	return out
}
