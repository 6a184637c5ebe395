// Package web holds the buf registry's pages: an organization's modules,
// and a module's labels, commits, files (.proto files highlighted),
// dependencies and documentation generated from its proto comments. The
// pages are rendered in the site's layout (pkg/web) and read everything
// through buf.Service, under the same access rules as the buf CLI.
package web
