// Package registryv1alpha1connect holds the Connect handlers of the alpha
// plugin API (PluginCurationService, CodeGenerationService), generated
// from ../../proto by `buf generate` in ecosystems/buf/alpha.
package registryv1alpha1connect
