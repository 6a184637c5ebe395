package web

import (
	"encoding/json"
	"strings"
)

// RequireCommand is the command that adds a package to a project.
func RequireCommand(name string) string { return "composer require " + name }

// RepositoryURL is an organization's Composer repository on a server whose
// base URL is base.
func RepositoryURL(base, org string) string {
	return strings.TrimSuffix(base, "/") + "/composer/" + org
}

// RepositorySnippet is the composer.json fragment that points a project at
// an organization's repository.
func RepositorySnippet(base, org string) string {
	doc := map[string]any{"repositories": []map[string]string{{"type": "composer", "url": RepositoryURL(base, org)}}}
	b, _ := json.MarshalIndent(doc, "", "    ")
	return string(b)
}

// ConfigCommand adds an organization's repository to the project in the
// current directory.
func ConfigCommand(base, org string) string {
	return "composer config repositories." + org + " composer " + RepositoryURL(base, org)
}
