package harness

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/packyard/packyard/pkg/testenv"
)

// ChromiumPath is where Debian's chromium package installs the browser
// (scripts/install-deps.sh installs it).
const ChromiumPath = "/usr/bin/chromium"

// Browser is a headless Chromium driven through the DevTools protocol
// (chromedp), started for one test with its own profile (no cookies shared
// with other tests) and stopped when the test ends. Every step that fails
// fails the test after saving a screenshot and the page's HTML to the
// test's temporary directory (the paths are logged).
type Browser struct {
	t   testing.TB
	ctx context.Context
	dir string
}

// chromium returns the browser's path; without it the test skips, or fails
// when PACKYARD_TEST_REQUIRE_SERVICES=1.
func chromium(t testing.TB) string {
	t.Helper()
	path := ChromiumPath
	if _, err := os.Stat(path); err != nil {
		if p, lerr := exec.LookPath("chromium"); lerr == nil {
			path = p
		} else {
			if testenv.Required() {
				t.Fatalf("chromium is not installed but PACKYARD_TEST_REQUIRE_SERVICES=1 (scripts/install-deps.sh installs it)")
			}
			t.Skip("chromium is not installed (scripts/install-deps.sh installs it)")
		}
	}
	return path
}

// NewBrowser starts a headless Chromium (no sandbox: tests run as root)
// with a 1280×900 window.
func NewBrowser(t testing.TB) *Browser {
	t.Helper()
	path := chromium(t)
	dir := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.Flag("disable-gpu", true),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &Browser{t: t, ctx: ctx, dir: dir}
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

// Context is the browser tab's chromedp context, for actions the helpers
// do not cover: chromedp.Run(b.Context(), ...). Use Must to keep the
// screenshot on failure.
func (b *Browser) Context() context.Context { return b.ctx }

// Do runs the steps with a 30-second limit; on failure it saves a
// screenshot and the HTML and fails the test.
func (b *Browser) Do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.Fail("browser step: %v", err)
	}
}

// Must runs one action that returns a value, as Do does.
func Must[T any](b *Browser, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.Fail("browser step: %v", err)
	}
	return v
}

// Fail saves a screenshot and the page's HTML to the test's temporary
// directory, logs their paths and fails the test with the message.
func (b *Browser) Fail(format string, args ...any) {
	b.t.Helper()
	b.Capture("failure")
	b.t.Fatalf(format, args...)
}

// Capture saves a screenshot (name.png) and the HTML (name.html) of the
// page to the test's temporary directory and logs the paths.
func (b *Browser) Capture(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(90)); err == nil {
		p := filepath.Join(b.dir, name+".png")
		if werr := os.WriteFile(p, png, 0o600); werr == nil {
			b.t.Logf("screenshot: %s", p)
		}
	} else {
		b.t.Logf("screenshot failed: %v", err)
	}
	if html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html"))); err == nil {
		p := filepath.Join(b.dir, name+".html")
		if werr := os.WriteFile(p, []byte(html), 0o600); werr == nil {
			b.t.Logf("page HTML: %s", p)
		}
	}
}

// Open navigates to url and waits for the page's <main> (every packyard
// page has one).
func (b *Browser) Open(url string) {
	b.t.Helper()
	b.Do(chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("main")))
}

// Text is the visible text of the first element sel (CSS) matches.
func (b *Browser) Text(sel string) string {
	b.t.Helper()
	return Must(b, chromedp.Text(chromedp.CSS(sel)))
}

// HTML is the page's whole HTML.
func (b *Browser) HTML() string {
	b.t.Helper()
	return Must(b, chromedp.OuterHTML(chromedp.CSS("html")))
}

// Location is the page's URL.
func (b *Browser) Location() string {
	b.t.Helper()
	return Must(b, chromedp.Location())
}

// Has reports whether an element matches sel (CSS) right now (no waiting).
func (b *Browser) Has(sel string) bool {
	b.t.Helper()
	return Must(b, chromedp.Evaluate[bool]("document.querySelector("+jsString(sel)+") !== null"))
}

// Fill types value into the field sel (CSS) after clearing it.
func (b *Browser) Fill(sel, value string) {
	b.t.Helper()
	b.Do(chromedp.SetValue(chromedp.CSS(sel), ""), chromedp.SendKeys(chromedp.CSS(sel), value))
}

// Submit clicks the button sel (CSS) and waits for the next page's <main>.
func (b *Browser) Submit(sel string) {
	b.t.Helper()
	b.Do(chromedp.Click(chromedp.CSS(sel)), chromedp.Sleep(150*time.Millisecond), chromedp.WaitReady(chromedp.CSS("main")))
}

// Cookie returns the value of the browser's cookie name for url, "" when
// it has none (HttpOnly cookies included).
func (b *Browser) Cookie(url, name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		b.Fail("read cookies: %v", err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// SetCookie gives the browser a cookie for url (to replay an old one).
func (b *Browser) SetCookie(url, name, value string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: name, Value: value, URL: url}); err != nil {
		b.Fail("set cookie: %v", err)
	}
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
