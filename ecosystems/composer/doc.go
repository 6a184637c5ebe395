// Package composer is packyard's Composer ecosystem: one Composer 2
// repository per organization at /composer/{org}. It owns the repository's
// routes (handlers.go), its packages from uploads and git sources with the
// documents and archives Composer reads (Service), what the repository
// takes from upstream repositories (Proxy: proxied metadata, mirrored
// archives, search, advisories), every composer_* table (store.go, store_upstreams.go), and
// the fx Module with the background sync worker.
//
// Its sub-packages import nothing of it: format holds Composer's data
// formats (versions, manifests, archives, documents), vcs reads git
// repositories. The admin commands, `packyard composer …`, are in cli.
package composer
