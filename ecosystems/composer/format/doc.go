// Package format is Composer's data formats as packyard reads and writes
// them, with no I/O of its own: version strings (Composer's normalization,
// ordering and tag and branch rules), composer.json manifests and JSON
// objects that keep their key order, zip archives (checking an upload,
// building a dist as git archive does), and the documents a repository
// serves (packages.json, p2 metadata in Composer's minified form, and the
// base URL placeholder they are built with). It imports nothing of the
// Composer service.
package format
