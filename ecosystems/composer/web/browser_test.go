package web_test

import (
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/pkg/metadata"
)

// signInWithHeader makes the browser send the token on every request (the
// kit reads the Authorization header as the API does).
func signInWithHeader(t *testing.T, b *harness.Browser, token string) {
	t.Helper()
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("token:"+token))
	if _, err := chromedp.Call(b.Context(), network.Enable, network.EnableParams{}); err != nil {
		b.Fail("enable network: %v", err)
	}
	if _, err := chromedp.Call(b.Context(), network.SetExtraHTTPHeaders,
		network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": auth}}); err != nil {
		b.Fail("set the Authorization header: %v", err)
	}
}

// waitFor polls a JavaScript condition for up to limit, through page
// reloads; it fails the test (with a screenshot) when it never holds.
func waitFor(b *harness.Browser, limit time.Duration, what, cond string) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		ok, err := chromedp.Run(b.Context(), chromedp.Evaluate[bool](cond))
		if err == nil && ok {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	b.Fail("waited %s for %s", limit, what)
}

func evalInt(b *harness.Browser, expr string) int {
	return harness.Must(b, chromedp.Evaluate[int](expr))
}

// A git source added, synced with "Sync now" and watched until its
// versions appear; a zip uploaded through the form; the package page's
// versions, README (its script neutralised), snippet and installs chart,
// in the real Chromium.
func TestComposerPagesInChromium(t *testing.T) {
	s := newSite(t, map[string]string{"PACKYARD_COMPOSER_SYNC_INTERVAL": "1h"})
	token := s.k.Token("acme", metadata.RoleAdmin)
	root, git := gitServer(t)
	repo := harness.GitRepo(t)
	repo.Commit(map[string]string{"composer.json": `{"name":"acme/lib","description":"From git"}`, "README.md": "# lib\n"})
	repo.Git("tag", "v1.0.0")
	repo.Commit(map[string]string{"src/A.php": "<?php\n"})
	repo.Git("tag", "v1.1.0")
	publishBare(t, root, "lib", repo)

	b := harness.NewBrowser(t)
	var dialogs atomic.Int32
	require.NoError(t, chromedp.Listen(b.Context(), func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			dialogs.Add(1)
			go func() {
				_, _ = chromedp.Call(b.Context(), page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
			}()
		}
	}))
	signInWithHeader(t, b, token)

	// add the source, then "Sync now" and watch the page until the sync ends
	b.Open(s.k.URL + "/acme/-/composer/sources")
	b.Do(chromedp.SendKeys(chromedp.CSS("#f-url"), git.URL+"/lib.git"))
	b.Submit("form[data-testid=add-source] button[type=submit]")
	require.True(t, b.Has("[data-testid=created-source]"), "the page confirms the source")
	require.True(t, b.Has("[data-testid=webhook-secret] code"), "the webhook secret is shown once")
	secret := b.Text("[data-testid=webhook-secret] code")
	require.Len(t, secret, 48)
	b.Submit("button[data-testid=sync-now]")
	require.Contains(t, b.Location(), "syncing=")
	waitFor(b, 60*time.Second, "the sync to finish", `(document.querySelector("[data-testid=sync-progress]")||{textContent:""}).textContent.includes("finished")`)
	require.Contains(t, b.Text("[data-testid=sync-progress]"), "ok")
	require.NotContains(t, b.HTML(), secret, "the secret is never shown again")
	require.Equal(t, "ok", b.Text("[data-testid=source-status]"))
	b.Open(s.k.URL + "/acme/packages/acme/lib")
	versions := b.Text("table.versions")
	require.Contains(t, versions, "v1.1.0")
	require.Contains(t, versions, "v1.0.0")

	// upload a zip through the form
	zipPath := filepath.Join(t.TempDir(), "widget.zip")
	readme := "# Widget\n\n<script>alert('readme')</script>\n\n<img src=\"x\" onerror=\"alert(2)\">\n\n[docs](javascript:alert(3))\n"
	require.NoError(t, os.WriteFile(zipPath, zipOf(t, map[string]string{
		"composer.json": `{"name":"acme/widget","description":"A widget","license":"MIT","require":{"php":">=8.1"}}`,
		"README.md":     readme}), 0o600))
	b.Open(s.k.URL + "/acme/-/composer/upload")
	b.Do(chromedp.SetUploadFiles(chromedp.CSS("#f-zip"), []string{zipPath}))
	b.Do(chromedp.SendKeys(chromedp.CSS("#f-version"), "1.2.0"))
	b.Submit("form[data-testid=upload-form] button[type=submit]")
	require.True(t, strings.HasSuffix(b.Location(), "/acme/packages/acme/widget?version=1.2.0"), b.Location())

	// three installs reported by Composer today
	res, err := s.k.Client.Do(notify(t, s.k.URL, token, `{"downloads":[{"name":"acme/widget","version":"1.2.0.0"},{"name":"acme/widget","version":"1.2.0.0"},{"name":"acme/widget","version":"1.2.0.0"}]}`))
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)

	b.Open(s.k.URL + "/acme/packages/acme/widget")
	require.Contains(t, b.Text("table.versions"), "1.2.0")
	require.Equal(t, "Widget", b.Text("[data-testid=readme] h1"))
	require.Zero(t, evalInt(b, `document.querySelectorAll("[data-testid=readme] script, [data-testid=readme] iframe").length`))
	require.Zero(t, evalInt(b, `document.querySelectorAll("[data-testid=readme] [onerror], [data-testid=readme] a[href^='javascript']").length`))
	require.Zero(t, evalInt(b, `Array.from(document.scripts).filter(s => !s.src).length`), "no inline script on the page")
	require.Zero(t, dialogs.Load(), "no alert fired")
	require.Equal(t, "composer require acme/widget", b.Text("[data-testid=require] code"))
	require.Contains(t, harness.Must(b, chromedp.TextContent(chromedp.CSS("[data-testid=repository-snippet] code"))),
		`"url": "`+s.k.URL+`/composer/acme"`)
	require.Equal(t, 1, evalInt(b, `document.querySelectorAll("[data-testid=day-chart] svg").length`))
	require.Equal(t, 30, evalInt(b, `document.querySelectorAll("[data-testid=day-chart] rect.bar").length`))
	require.Equal(t, 1, evalInt(b, `Array.from(document.querySelectorAll("[data-testid=day-chart] rect.bar")).filter(r => r.getAttribute("data-count") !== "0").length`))
	require.Equal(t, 3, evalInt(b, `Array.from(document.querySelectorAll("[data-testid=day-chart] rect.bar")).reduce((n, r) => n + Number(r.getAttribute("data-count")), 0)`))
	require.Equal(t, 1, evalInt(b, `document.querySelectorAll("[data-testid=version-chart] rect.bar").length`))
	require.Positive(t, evalInt(b, `Math.round(document.querySelector("[data-testid=day-chart] rect.bar:last-of-type").getBBox().height)`),
		"today's bar is drawn")
}

func notify(t *testing.T, base, token, body string) *http.Request {
	req, err := http.NewRequest("POST", base+"/composer/acme/downloads", strings.NewReader(body))
	require.NoError(t, err)
	req.SetBasicAuth("token", token)
	req.Header.Set("Content-Type", "application/json")
	return req
}
