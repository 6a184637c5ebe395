// Package imagev1 is the buf CLI's image (buf.alpha.image.v1), generated
// from ../proto by `buf generate` in ecosystems/buf/alpha (see doc.go there).
package imagev1
