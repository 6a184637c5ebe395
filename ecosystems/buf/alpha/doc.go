// Package alpha documents the Buf Schema Registry alpha API messages
// packyard serves and that the generated registry SDK lacks: small .proto
// files of packyard's own under proto/, wire-compatible with the buf CLI
// (same packages, services, methods, messages and field numbers; only the
// parts packyard reads or answers), and their Go code in imagev1,
// registryv1alpha1 and registryv1alpha1connect, committed. To regenerate,
// with protoc-gen-go and protoc-gen-connect-go at the versions in go.mod on
// PATH, run in this directory:
//
//	buf generate
package alpha
