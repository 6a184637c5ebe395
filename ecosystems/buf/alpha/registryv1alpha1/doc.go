// Package registryv1alpha1 holds the messages of the Buf Schema Registry's
// alpha API that packyard serves (buf.alpha.registry.v1alpha1: plugin
// curation, code generation, AuthnService and ResolveService),
// generated from ../proto by `buf generate` in ecosystems/buf/alpha.
package registryv1alpha1
