package local

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/rolecall/rolecall/internal/connection"
)

// chromium finds Debian's chromium (installed by .ci/run in CI).
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed; .ci/run installs it with apt")
	}
	t.Skip("chromium is not installed; install Debian's chromium (apt-get install chromium) to run the browser test")
	return ""
}

// artifacts is where the browser test writes its screenshots (git-ignored).
func artifacts(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "..", "testartifacts", "browser")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// newBrowser starts headless Chromium and returns a context for its tab,
// bounded to a minute and a half.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	if err := chromedp.Do(bctx); err != nil { // starts the browser and opens the tab
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func do(t *testing.T, ctx context.Context, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		if png, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100)); serr == nil {
			_ = os.WriteFile(filepath.Join(artifacts(t), "failed.png"), png, 0o644)
		}
		t.Fatalf("%s: %v (screenshot: testartifacts/browser/failed.png)", step, err)
	}
}

func get[T any](t *testing.T, ctx context.Context, step string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	return v
}

// waitFor polls a JavaScript predicate until it is true.
func waitFor(expr string, within time.Duration) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(within), chromedp.WithPollingInterval(50*time.Millisecond))
}

// clearField empties an input as a user selecting its text and deleting it.
func clearField(id string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`(e => { e.value = ''; e.dispatchEvent(new Event('input', {bubbles: true})); })(document.getElementById('` + id + `'))`)
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png := get(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserOnboarding drives the customer form in headless Chromium:
// copy the external ID, create the sandbox role, paste its ARN, submit and
// see Connected; a malformed ARN shows the field error; a role without the
// external-ID condition shows the reason and its hint; the ops page shows
// the connections and the events. Each state is saved as a screenshot under
// testartifacts/browser.
func TestBrowserOnboarding(t *testing.T) {
	ctx := newBrowser(t)
	dir := artifacts(t)
	s := start(t, testOptions(t, io.Discard))
	c := client{t: t, base: s.URL, ops: s.OpsToken}
	_, v := c.tenantWithInvite("browser")
	var inv struct {
		Code string `json:"code"`
		URL  string `json:"url"`
	}
	c.must(c.opsDo("POST", "/v1/tenants/browser/invites", nil), 201).decode(t, &inv)

	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name}, Setting: browser.PermissionSettingGranted, Origin: s.URL,
		}); err != nil {
			t.Logf("grant %s: %v", name, err)
		}
	}

	// The form.
	do(t, ctx, "open the form", chromedp.Navigate(inv.URL), chromedp.WaitVisible(chromedp.ID("external-id")))
	title := get(t, ctx, "title", chromedp.Title())
	ext := get(t, ctx, "external ID", chromedp.Value(chromedp.ID("external-id")))
	if !strings.Contains(title, "Connect your AWS account") || ext != v.ExternalID {
		t.Fatalf("form title %q, external ID %q (want %q)", title, ext, v.ExternalID)
	}
	screenshot(t, ctx, dir, "01-form")

	// Copy the external ID.
	do(t, ctx, "copy the external ID",
		chromedp.Click(chromedp.CSS(`button[data-copy="external-id"]`)),
		waitFor(`document.getElementById('external-id-copied').textContent !== ''`, 5*time.Second))
	if copied := get(t, ctx, "copy feedback", chromedp.Text(chromedp.ID("external-id-copied"))); !strings.Contains(copied, "Copied") {
		t.Fatalf("copy feedback %q", copied)
	}
	if clip, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise)); err != nil {
		t.Logf("the clipboard is not readable here (%v); relying on the page's feedback", err)
	} else if clip != v.ExternalID {
		t.Errorf("the clipboard holds %q, want the external ID", clip)
	}

	// The tabs work with the keyboard.
	do(t, ctx, "switch tabs", chromedp.Focus(chromedp.ID("tab-cfn")), chromedp.KeyEvent(kb.ArrowRight))
	if ok := get(t, ctx, "tab state", chromedp.Evaluate[bool](`!document.getElementById('panel-tf').hidden && document.getElementById('panel-cfn').hidden && document.activeElement.id === 'tab-tf'`)); !ok {
		t.Error("ArrowRight did not select the Terraform tab")
	}
	screenshot(t, ctx, dir, "02-terraform-tab")
	do(t, ctx, "back to CloudFormation", chromedp.Click(chromedp.ID("tab-cfn")))

	// Download the rendered template.
	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads,
	}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "download the template",
		chromedp.Click(chromedp.ID("download-template")),
		waitFor(`/Downloaded/.test(document.getElementById('download-status').textContent)`, 5*time.Second))
	var tpl []byte
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b, err := os.ReadFile(filepath.Join(downloads, "customer-role.yaml"))
		if err == nil && len(b) > 0 {
			tpl = b
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the template was not downloaded: %v", err)
		}
	}
	if !strings.Contains(string(tpl), v.ExternalID) || !strings.Contains(string(tpl), "AWS::IAM::Role") {
		t.Errorf("downloaded template lacks the tenant's external ID or the role:\n%.400s", tpl)
	}

	// Create the role in a sandbox account.
	do(t, ctx, "create the sandbox role", chromedp.Click(chromedp.ID("sandbox-create")), chromedp.WaitVisible(chromedp.ID("sandbox-arn")))
	arn := get(t, ctx, "sandbox role ARN", chromedp.Text(chromedp.ID("sandbox-arn")))
	if arn != v.Sandbox.RoleARN {
		t.Fatalf("sandbox role %q, want %q", arn, v.Sandbox.RoleARN)
	}
	screenshot(t, ctx, dir, "03-sandbox-role")

	// A malformed ARN: the field error.
	do(t, ctx, "submit a malformed ARN",
		chromedp.SendKeys(chromedp.ID("role-arn"), "arn:aws:iam::123:role/x"),
		chromedp.Click(chromedp.ID("submit-button")),
		waitFor(`(e => e && !e.hidden && /12 digits/.test(e.textContent))(document.getElementById('role-arn-error'))`, 5*time.Second))
	fieldErr := get(t, ctx, "field error", chromedp.Text(chromedp.ID("role-arn-error")))
	invalid := get(t, ctx, "aria-invalid", chromedp.AttributeValue(chromedp.ID("role-arn"), "aria-invalid"))
	if !strings.Contains(fieldErr, "account ID must be exactly 12 digits") || invalid.Value != "true" {
		t.Errorf("field error %q, aria-invalid %q", fieldErr, invalid.Value)
	}
	screenshot(t, ctx, dir, "04-field-error")

	// Paste the sandbox role's ARN, submit, see Connected.
	do(t, ctx, "submit the role",
		clearField("role-arn"),
		chromedp.SendKeys(chromedp.ID("role-arn"), arn),
		chromedp.Click(chromedp.ID("submit-button")),
		chromedp.WaitVisible(chromedp.ID("status-card")),
		waitFor(`document.querySelector('#stepper li[data-step="connected"]').className === 'done'`, 15*time.Second),
		waitFor(`document.querySelectorAll('#conns tbody tr').length === 1 && /Connected/.test(document.querySelector('#conns tbody').textContent)`, 5*time.Second))
	status := get(t, ctx, "status", chromedp.Text(chromedp.ID("status")))
	if !strings.Contains(status, "Connected") || !strings.Contains(status, v.Sandbox.AccountID) {
		t.Errorf("status %q", status)
	}
	if ok := get(t, ctx, "field error cleared", chromedp.Evaluate[bool](`document.getElementById('role-arn-error').hidden && !document.getElementById('role-arn').hasAttribute('aria-invalid')`)); !ok {
		t.Error("the field error stayed after a valid submission")
	}
	if conn := c.connection("Invite "+inv.Code, v.Sandbox.AccountID); conn.Status != connection.Verified {
		t.Errorf("the API says %s", conn.Status)
	}
	screenshot(t, ctx, dir, "05-connected")

	// A role that does not require the external ID: the reason and its hint.
	lax := "arn:aws:iam::210987654321:role/NoExternalId"
	c.putRole(lax, policyWithoutExternalID(s.PartnerPrincipalARN))
	do(t, ctx, "submit a role without the external-ID condition",
		clearField("role-arn"),
		chromedp.SendKeys(chromedp.ID("role-arn"), lax),
		chromedp.Click(chromedp.ID("submit-button")),
		waitFor(`/EXTERNAL_ID_NOT_ENFORCED/.test(document.getElementById('status').textContent)`, 15*time.Second))
	failed := get(t, ctx, "failure", chromedp.Text(chromedp.ID("status")))
	if !strings.Contains(failed, "confused deputy") || !strings.Contains(failed, "sts:ExternalId") {
		t.Errorf("failure shown as %q", failed)
	}
	screenshot(t, ctx, dir, "06-failed-with-hint")

	// A phone-sized screen: nothing overflows sideways.
	do(t, ctx, "narrow screen",
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: 375, Height: 812, DeviceScaleFactor: 2, Mobile: true})
			return err
		}),
		chromedp.Navigate(inv.URL),
		chromedp.WaitVisible(chromedp.ID("external-id")))
	if overflow := get(t, ctx, "overflow", chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)); overflow {
		t.Error("the form overflows a 375px wide screen")
	}
	screenshot(t, ctx, dir, "07-narrow")
	if _, err := chromedp.Call(ctx, emulation.ClearDeviceMetricsOverride, struct{}{}); err != nil {
		t.Fatal(err)
	}

	// An unknown invite: a friendly page.
	do(t, ctx, "unknown invite", chromedp.Navigate(s.URL+"/connect?invite="+strings.Repeat("a", 39)))
	if h := get(t, ctx, "heading", chromedp.Text(chromedp.CSS("h1"))); h != "This invite link is not valid" {
		t.Errorf("unknown invite page: %q", h)
	}
	screenshot(t, ctx, dir, "08-invalid-invite")

	// The ops page: the token once, connections by status, live events.
	do(t, ctx, "ops page",
		chromedp.Navigate(s.URL+"/ops"),
		chromedp.WaitVisible(chromedp.ID("ops-token")),
		chromedp.SendKeys(chromedp.ID("ops-token"), s.OpsToken),
		chromedp.Click(chromedp.CSS(`#signin-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("console")),
		waitFor(`document.querySelectorAll('#events li').length >= 4 && document.querySelector('[data-count="VERIFIED"]').textContent === '1' && document.querySelector('[data-count="FAILED"]').textContent === '1'`, 10*time.Second))
	feed := get(t, ctx, "event feed", chromedp.Text(chromedp.ID("events")))
	if !strings.Contains(feed, "Role Verified") || !strings.Contains(feed, "Role Verification Failed") || !strings.Contains(feed, "EXTERNAL_ID_NOT_ENFORCED") {
		t.Errorf("event feed %q", feed)
	}
	screenshot(t, ctx, dir, "09-ops")

	// A re-check from the ops page.
	do(t, ctx, "re-check",
		chromedp.Click(chromedp.CSS(`button[aria-label="Re-check browser / `+v.Sandbox.AccountID+`"]`)),
		waitFor(`/queued/.test(document.getElementById('ops-message').textContent)`, 5*time.Second))
	if msg := get(t, ctx, "ops message", chromedp.Text(chromedp.ID("ops-message"))); !strings.Contains(msg, "Check of browser/"+v.Sandbox.AccountID+" queued") {
		t.Errorf("re-check message %q", msg)
	}

	// The token is kept for the tab: a reload needs no sign-in.
	do(t, ctx, "reload ops", chromedp.Navigate(s.URL+"/ops"), chromedp.WaitVisible(chromedp.ID("console")))
}

// TestBrowserSandboxStack: the form's "Launch the stack in a sandbox
// account" creates the role and registers it as a stack would; the form
// shows the stack's answer and Connected with nothing pasted.
func TestBrowserSandboxStack(t *testing.T) {
	ctx := newBrowser(t)
	dir := artifacts(t)
	s := start(t, testOptions(t, io.Discard))
	c := client{t: t, base: s.URL, ops: s.OpsToken}
	_, v := c.tenantWithInvite("browser-stack")
	var inv struct {
		URL string `json:"url"`
	}
	c.must(c.opsDo("POST", "/v1/tenants/browser-stack/invites", nil), 201).decode(t, &inv)
	do(t, ctx, "open the form", chromedp.Navigate(inv.URL), chromedp.WaitVisible(chromedp.ID("sandbox-launch")))
	do(t, ctx, "launch the sandbox stack",
		chromedp.Click(chromedp.ID("sandbox-launch")),
		chromedp.WaitVisible(chromedp.ID("sandbox-stack-status")),
		waitFor(`document.querySelector('#status .chip') && document.querySelector('#status .chip').textContent === 'Connected'`, 20*time.Second))
	answer := get(t, ctx, "stack answer", chromedp.Text(chromedp.ID("sandbox-stack-status")))
	if !strings.Contains(answer, "SUCCESS") || !strings.Contains(answer, "VERIFIED") {
		t.Errorf("stack answer %q", answer)
	}
	if got := get(t, ctx, "role ARN field", chromedp.Value(chromedp.ID("role-arn"))); got != "" {
		t.Errorf("the ARN field holds %q; nothing should have been pasted", got)
	}
	do(t, ctx, "the connections table lists it", waitFor(`document.querySelector('#conns tbody').textContent.indexOf('`+v.Sandbox.AccountID+`') >= 0`, 5*time.Second))
	screenshot(t, ctx, dir, "10-sandbox-stack")
}
