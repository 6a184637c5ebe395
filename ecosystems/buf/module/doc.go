// Package module holds the rules of a buf module that need no database,
// no blob store and no network: which files a module may hold and how they
// are classified, label names and ids, the imports of a .proto file, the
// B4 and B5 digests the buf CLI checks, which modules and commits a push
// depends on (ResolveDeps, PushGraph), and the one-commit-per-module graph
// a lock file needs (ResolveGraph). Every function is pure and tested
// alone; the registry in package buf stores and serves what it decides.
package module
