// Package web is the Composer ecosystem's pages: an organization's
// packages (its list on the organization page and the count on the home
// page), a package's page (versions, README, install snippets, installs per
// day), git sources, upstreams, advisories and the upload form. Templates
// are embedded; every page reads without JavaScript. Rendering pieces
// (Markdown, the SVG chart, snippets) are pure and tested on their own;
// handlers parse, call composer.Service and render.
package web
