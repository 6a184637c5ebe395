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

// Open navigates to url, waits for the page's <main> (every packyard page
// has one) and returns the HTTP status of the document.
func (b *Browser) Open(url string) int {
	b.t.Helper()
	res := Must(b, chromedp.NavigateResponse(url))
	b.Do(chromedp.WaitReady(chromedp.CSS("main")))
	if res == nil {
		return 0
	}
	return int(res.Status)
}

// SignIn signs the browser in to the packyard at base with a token through
// the /-/signin form, and fails the test unless it lands signed in.
func SignIn(t testing.TB, b *Browser, base, token string) {
	t.Helper()
	b.Open(base + "/-/signin")
	b.Fill("#f-token", token)
	b.Submit("[data-testid=signin-form] button[type=submit]")
	if !b.Has("[data-testid=viewer]") {
		b.Fail("sign-in with a token did not sign the browser in (at %s)", b.Location())
	}
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

// Fill sets the value of the field sel (CSS): an input, textarea or
// select (an option's value), as if typed or chosen.
func (b *Browser) Fill(sel, value string) {
	b.t.Helper()
	b.Do(chromedp.WaitReady(chromedp.CSS(sel)))
	ok := Must(b, chromedp.Evaluate[bool](`(function(){var e=document.querySelector(`+jsString(sel)+`);`+
		`if(!e){return false}e.value=`+jsString(value)+`;e.dispatchEvent(new Event("input",{bubbles:true}));`+
		`e.dispatchEvent(new Event("change",{bubbles:true}));return e.value===`+jsString(value)+`})()`))
	if !ok {
		b.Fail("could not set %s to %q", sel, value)
	}
}

// Submit clicks the button sel (CSS) and waits until the next page has
// loaded (a new document, fully read).
func (b *Browser) Submit(sel string) {
	b.t.Helper()
	Must(b, chromedp.Evaluate[bool]("window.__packyardOld = true"))
	b.Do(chromedp.Click(chromedp.CSS(sel)))
	b.WaitNewPage()
}

// WaitNewPage waits (up to 15 s) until the tab shows a document other than
// the one marked before (Submit marks it) and that document has loaded.
func (b *Browser) WaitNewPage() {
	b.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		done, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__packyardOld === undefined && document.readyState === "complete"`))
		cancel()
		if err == nil && done {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fail("the page did not change after the form was sent")
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
