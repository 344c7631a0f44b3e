package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// browser is a headless Debian chromium driven over the DevTools protocol.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu     sync.Mutex
	errors []string // uncaught exceptions and console errors of the page
}

// startBrowser runs chromium with a fresh profile (no sandbox: the tests
// may run as root); it fails under CI=true and skips elsewhere when
// chromium is missing. When the test fails it saves a screenshot of the
// page in a new temporary directory; when it passes and the environment
// variable named endShotEnv (none if "") names a file, it saves one there.
func startBrowser(t *testing.T, endShotEnv string) *browser {
	t.Helper()
	exe := need(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1100, 1400),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx}
	// The first run starts the browser and binds it to its context: ctx
	// itself, not one with a timeout, or the browser ends with the timeout.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	// Everything the page throws or logs as an error (a CSP refusal
	// included) fails the test at its end.
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError {
				b.record(m.String())
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// Registered after the browser's own cleanup, so it runs first.
	t.Cleanup(func() {
		path := ""
		if endShotEnv != "" {
			path = os.Getenv(endShotEnv)
		}
		if !t.Failed() && path == "" {
			return
		}
		if t.Failed() {
			dir, err := os.MkdirTemp("", "minipot-ui-")
			if err != nil {
				t.Log(err)
				return
			}
			path = filepath.Join(dir, "page.png")
		}
		if err := b.screenshot(path); err != nil {
			t.Logf("screenshot: %v", err)
			return
		}
		t.Logf("screenshot of the page: %s", path)
	})
	return b
}

func (b *browser) record(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = append(b.errors, s)
}

// pageErrors returns what the page threw or logged as an error.
func (b *browser) pageErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// run runs chromedp actions within a timeout.
func (b *browser) run(timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// navigate opens a URL.
func (b *browser) navigate(url string) {
	b.t.Helper()
	if err := b.run(20*time.Second, chromedp.Navigate(url)); err != nil {
		b.t.Fatalf("navigate %s: %v", url, err)
	}
}

// screenshot saves the whole page as PNG.
func (b *browser) screenshot(path string) error {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}

// evalJS evaluates a JavaScript expression.
func evalJS[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// do runs JavaScript for its effect (a click, a poll).
func (b *browser) do(js string) {
	b.t.Helper()
	evalJS[bool](b, "("+js+", true)")
}

// text is the text of the first element matching a CSS selector.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return evalJS[string](b, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel))
}

// waitFor waits until a JavaScript expression is true.
func (b *browser) waitFor(what, expr string) {
	b.t.Helper()
	eventually(b.t, 15*time.Second, what, func() (bool, string) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		if err != nil {
			return false, err.Error()
		}
		return ok, expr + " is false"
	})
}

// idle waits until the page has no request of its own in flight.
func (b *browser) idle() {
	b.t.Helper()
	b.waitFor("the page is idle", `document.body.dataset.busy === "0"`)
}

// click clicks an element once the page is idle, and waits until the
// change it started is done.
func (b *browser) click(sel string) {
	b.t.Helper()
	b.idle()
	if err := b.run(10*time.Second, chromedp.Click(chromedp.CSS(sel))); err != nil {
		b.t.Fatalf("click %s: %v", sel, err)
	}
	b.idle()
}

// viewport lays the page out at width×height CSS pixels; mobile makes
// chromium honour the page's viewport meta tag as a phone does (a page
// wider than the screen is then zoomed out, which the tests must catch).
func (b *browser) viewport(width, height int, mobile bool) {
	b.t.Helper()
	opts := []chromedp.EmulateViewportOption{chromedp.EmulatePortrait}
	if mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	if err := b.run(10*time.Second, chromedp.EmulateViewport(int64(width), int64(height), opts...)); err != nil {
		b.t.Fatalf("viewport %dx%d: %v", width, height, err)
	}
}

// downloadsTo saves what the page downloads in dir, under the names the
// page gives its files.
func (b *browser) downloadsTo(dir string) {
	b.t.Helper()
	err := b.run(10*time.Second, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir})
		return err
	}))
	if err != nil {
		b.t.Fatalf("downloads to %s: %v", dir, err)
	}
}

// zoneAndLocale makes the page see another time zone (an IANA name) and
// locale (a BCP 47 tag), as a browser set up elsewhere; it applies to
// pages loaded afterwards.
func (b *browser) zoneAndLocale(zone, locale string) {
	b.t.Helper()
	err := b.run(10*time.Second, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, emulation.SetLocaleOverride, emulation.SetLocaleOverrideParams{Locale: locale})
		return err
	}))
	if err != nil {
		b.t.Fatalf("time zone %s, locale %s: %v", zone, locale, err)
	}
}

// colorScheme makes the page see the owner's light or dark preference
// (prefers-color-scheme: "light" or "dark").
func (b *browser) colorScheme(scheme string) {
	b.t.Helper()
	err := b.run(10*time.Second, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	}))
	if err != nil {
		b.t.Fatalf("prefers-color-scheme %s: %v", scheme, err)
	}
}
