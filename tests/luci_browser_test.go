package tests

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// luciBrowser is headless chromium for the LuCI view's test. It is kept
// apart from the web UI's browser helper so the two tests can change
// independently.
type luciBrowser struct {
	t   *testing.T
	ctx context.Context

	mu     sync.Mutex
	errors []string
}

// startLuCIBrowser runs chromium with a fresh profile and no sandbox (the
// tests may run as root); it fails under CI=true and skips elsewhere when
// chromium is missing.
func startLuCIBrowser(t *testing.T) *luciBrowser {
	t.Helper()
	exe := need(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	// The first call starts the browser on ctx itself: a context with a
	// timeout would end the browser with it.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	b := &luciBrowser{t: t, ctx: ctx}
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError {
				b.mu.Lock()
				b.errors = append(b.errors, m.String())
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	return b
}

func (b *luciBrowser) pageErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

func (b *luciBrowser) navigate(url string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		b.t.Fatalf("navigate %s: %v", url, err)
	}
}

// screenshot saves the whole page as PNG (MINIPOT_LUCI_SCREENSHOT=FILE).
func (b *luciBrowser) screenshot(path string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err == nil {
		err = os.WriteFile(path, png, 0o644)
	}
	if err != nil {
		b.t.Errorf("screenshot: %v", err)
	}
}

// luciEval evaluates a JavaScript expression into a T.
func luciEval[T any](b *luciBrowser, expr string) T {
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
func (b *luciBrowser) do(js string) { luciEval[bool](b, "("+js+", true)") }

// waitFor waits until a JavaScript expression is true.
func (b *luciBrowser) waitFor(what, expr string) {
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
