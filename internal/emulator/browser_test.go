package emulator

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// serveWithBrowser starts headless Chromium and serve with o, and returns
// the browser's tab, the server and an API client of it.
func serveWithBrowser(t *testing.T, o Options) (context.Context, *Server, client) {
	t.Helper()
	ctx := newBrowser(t)
	s := start(t, o)
	return ctx, s, client{t: t, base: s.URL, ops: s.OpsToken}
}

// formInvite is an invite the browser opens: the link to the form, its
// code and its ID.
type formInvite struct {
	InviteID string `json:"inviteId"`
	Code     string `json:"code"`
	URL      string `json:"url"`
}

// newFormInvite creates an invite of tenant tenantID.
func (c client) newFormInvite(tenantID string) formInvite {
	c.t.Helper()
	var inv formInvite
	c.must(c.opsDo("POST", "/v1/tenants/"+tenantID+"/invites", nil), 201).decode(c.t, &inv)
	return inv
}

// TestBrowserOnboarding drives the customer form in headless Chromium:
// copy the external ID, create the sandbox role, paste its ARN, submit and
// see Connected; a malformed ARN shows the field error; a role without the
// external-ID condition shows the reason and its hint; the ops page shows
// the connections and the events. Each state is saved as a screenshot under
// testartifacts/browser.
func TestBrowserOnboarding(t *testing.T) {
	ctx, s, c := serveWithBrowser(t, testOptions(t, io.Discard))
	dir := artifacts(t)
	_, v := c.tenantWithInvite("browser")
	inv := c.newFormInvite("browser")

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

	// Download the rendered template; the browser's download event says
	// when the file is complete on disk.
	downloads := t.TempDir()
	done := make(chan string, 1)
	if err := chromedp.ListenBrowser(ctx, func(ev any) {
		if p, ok := ev.(*browser.EventDownloadProgress); ok && p.State == browser.DownloadProgressStateCompleted {
			select {
			case done <- p.FilePath:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	events := true
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads, EventsEnabled: &events,
	}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "download the template",
		chromedp.Click(chromedp.ID("download-template")),
		waitFor(`/Downloaded/.test(document.getElementById('download-status').textContent)`, 5*time.Second))
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("the template download did not complete: %v", ctx.Err())
	}
	tpl, err := os.ReadFile(filepath.Join(downloads, "customer-role.yaml"))
	if err != nil {
		t.Fatalf("the template was not downloaded: %v", err)
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
	if filled := get(t, ctx, "ARN field", chromedp.Value(chromedp.ID("role-arn"))); filled != arn {
		t.Errorf("the sandbox button left the ARN field at %q, want %q", filled, arn)
	}
	screenshot(t, ctx, dir, "03-sandbox-role")

	// A malformed ARN: the field error.
	do(t, ctx, "submit a malformed ARN",
		clearField("role-arn"),
		chromedp.SendKeys(chromedp.ID("role-arn"), "arn:aws:iam::123:role/x"),
		chromedp.Click(chromedp.ID("submit-button")),
		waitFor(`(e => e && !e.hidden && /12 digits/.test(e.textContent))(document.getElementById('role-arn-error'))`, 5*time.Second))
	fieldErr := get(t, ctx, "field error", chromedp.Text(chromedp.ID("role-arn-error")))
	invalid := get(t, ctx, "aria-invalid", chromedp.AttributeValue(chromedp.ID("role-arn"), "aria-invalid"))
	if !strings.Contains(fieldErr, "account ID must be exactly 12 digits") || invalid.Value != "true" {
		t.Errorf("field error %q, aria-invalid %q", fieldErr, invalid.Value)
	}
	screenshot(t, ctx, dir, "04-field-error")

	// Paste the sandbox role's ARN, submit: the status card comes into
	// view with the focus, then shows Connected.
	do(t, ctx, "submit the role",
		clearField("role-arn"),
		chromedp.SendKeys(chromedp.ID("role-arn"), arn),
		chromedp.Click(chromedp.ID("submit-button")),
		chromedp.WaitVisible(chromedp.ID("status-card")),
		waitFor(`document.activeElement && document.activeElement.id === 'status-card'`, 5*time.Second),
		waitFor(`(r => r.top >= -1 && r.top < window.innerHeight / 2)(document.getElementById('status-card').getBoundingClientRect())`, 5*time.Second),
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
	// The steps of the check: the role was assumed, in the right account,
	// but also without an external ID.
	if got := get(t, ctx, "step results", chromedp.Evaluate[string](`Array.from(document.querySelectorAll('#check-steps li')).map(li => li.dataset.result).join(',')`)); got != "ok,ok,failed,unknown" {
		t.Errorf("step results of EXTERNAL_ID_NOT_ENFORCED: %q, want ok,ok,failed,unknown", got)
	}
	if shown := get(t, ctx, "policy shown", chromedp.Evaluate[bool](`!document.getElementById('expected-policy').hidden`)); !shown {
		t.Error("EXTERNAL_ID_NOT_ENFORCED does not show the trust policy to use")
	}
	screenshot(t, ctx, dir, "06-failed-with-hint")

	// A refused submission: the field error, and the previous account's
	// status goes away.
	do(t, ctx, "submit another malformed ARN",
		clearField("role-arn"),
		chromedp.SendKeys(chromedp.ID("role-arn"), "arn:aws:iam::123:role/x"),
		chromedp.Click(chromedp.ID("submit-button")),
		waitFor(`!document.getElementById('role-arn-error').hidden`, 5*time.Second))
	if ok := get(t, ctx, "status cleared", chromedp.Evaluate[bool](`document.getElementById('status-card').hidden && document.getElementById('status').textContent === ''`)); !ok {
		t.Error("a refused submission left the previous account's status on screen")
	}

	// A role that does not exist yet: inside the propagation window the
	// status lists each denied attempt, the time left and "Check again
	// now"; once the window is over it is FAILED with the steps, the
	// causes in order and the trust policy to compare with.
	late := "arn:aws:iam::333344445555:role/NotYetCreated"
	do(t, ctx, "submit a role that does not exist yet",
		clearField("role-arn"),
		chromedp.SendKeys(chromedp.ID("role-arn"), late),
		chromedp.Click(chromedp.ID("submit-button")),
		waitFor(`document.querySelectorAll('#attempts li').length >= 2`, 8*time.Second))
	prop := get(t, ctx, "propagation", chromedp.Text(chromedp.ID("propagation")))
	if !strings.Contains(prop, "Attempt 1") || !strings.Contains(prop, "Attempt 2") || !regexp.MustCompile(`for \d+ s more`).MatchString(prop) {
		t.Errorf("propagation status %q lacks the attempts or the time left", prop)
	}
	if ok := get(t, ctx, "check again", chromedp.Evaluate[bool](`!!document.getElementById('check-again') && !document.getElementById('expected-policy').hidden`)); !ok {
		t.Error("no Check again now button or trust policy while the role is denied in the window")
	}
	screenshot(t, ctx, dir, "06b-propagation")
	do(t, ctx, "the window ends",
		waitFor(`/ASSUME_DENIED/.test(document.getElementById('status').textContent)`, 20*time.Second))
	if got := get(t, ctx, "denied steps", chromedp.Evaluate[string](`Array.from(document.querySelectorAll('#check-steps li')).map(li => li.dataset.result).join(',')`)); got != "failed,not run,not run,not run" {
		t.Errorf("step results of ASSUME_DENIED: %q", got)
	}
	causes := get(t, ctx, "causes", chromedp.Text(chromedp.ID("denied-causes")))
	if i, j, k := strings.Index(causes, "mistyped"), strings.Index(causes, "another principal"), strings.Index(causes, "another value"); i < 0 || j < i || k < j {
		t.Errorf("causes not in order of likelihood: %q", causes)
	}
	policy := get(t, ctx, "expected policy", chromedp.Text(chromedp.ID("expected-trust-policy")))
	if !strings.Contains(policy, v.ExternalID) || !strings.Contains(policy, s.PartnerPrincipalARN) {
		t.Errorf("expected trust policy %q lacks the external ID or the principal", policy)
	}
	screenshot(t, ctx, dir, "06c-denied")

	// The customer creates the role, then asks for a check at once.
	c.putRole(late, v.Sandbox.TrustPolicy)
	do(t, ctx, "check again now",
		chromedp.Click(chromedp.ID("check-again")),
		waitFor(`/Connected/.test(document.getElementById('status').textContent)`, 15*time.Second))

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
	// A failure with its steps fits too.
	do(t, ctx, "a failure on a narrow screen",
		chromedp.SendKeys(chromedp.ID("role-arn"), lax),
		chromedp.Click(chromedp.ID("submit-button")),
		waitFor(`document.querySelectorAll('#check-steps li').length === 4`, 15*time.Second))
	if overflow := get(t, ctx, "overflow with steps", chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)); overflow {
		t.Error("the failed status overflows a 375px wide screen")
	}
	screenshot(t, ctx, dir, "07b-narrow-failed")
	if _, err := chromedp.Call(ctx, emulation.ClearDeviceMetricsOverride, struct{}{}); err != nil {
		t.Fatal(err)
	}

	// An invite link that does not work: the form says why, naming the
	// partner, instead of the form.
	revoked := c.newFormInvite("browser")
	c.must(c.opsDo("DELETE", "/v1/tenants/browser/invites/"+revoked.InviteID, nil), 200)
	for _, p := range []struct{ name, query, heading, message string }{
		{"08-no-invite", "", "An invite link is needed", "Open this page from the invite link your partner sent you."},
		{"08-invalid-invite", "?invite=" + strings.Repeat("a", 39), "This invite link is not valid", "ask " + DefaultPartnerName + " for a new one"},
		{"08-revoked-invite", "?invite=" + revoked.Code, "This invite link was revoked", "Ask " + DefaultPartnerName + " for a new one."},
	} {
		do(t, ctx, p.name, chromedp.Navigate(s.URL+"/connect"+p.query), chromedp.WaitVisible(chromedp.ID("problem")))
		h := get(t, ctx, p.name+" heading", chromedp.Text(chromedp.ID("problem-title")))
		msg := get(t, ctx, p.name+" message", chromedp.Text(chromedp.ID("problem-message")))
		form := get(t, ctx, p.name+" form", chromedp.Evaluate[bool](`document.getElementById('form').hidden && document.title === '`+p.heading+`'`))
		if h != p.heading || !strings.Contains(msg, p.message) || !form {
			t.Errorf("%s: heading %q, message %q, form hidden and title set: %v", p.name, h, msg, form)
		}
		screenshot(t, ctx, dir, p.name)
	}

	// GET / links the form and the ops page.
	do(t, ctx, "home page", chromedp.Navigate(s.URL+"/"), chromedp.WaitVisible(chromedp.ID("home-form")))
	if href := get(t, ctx, "form link", chromedp.AttributeValue(chromedp.ID("home-form"), "href")); href.Value != s.DemoInviteURL {
		t.Errorf("home page links the form at %q, want %q", href.Value, s.DemoInviteURL)
	}
	screenshot(t, ctx, dir, "08b-home")
	// Its link opens the demo tenant's form, sandbox button included.
	do(t, ctx, "the demo form", chromedp.Click(chromedp.ID("home-form")), chromedp.WaitVisible(chromedp.ID("sandbox-create")))
	if h := get(t, ctx, "demo heading", chromedp.Text(chromedp.CSS("#form h1"))); !strings.Contains(h, "Demo Customer") {
		t.Errorf("demo form heading %q", h)
	}

	// The ops page: the token once, connections by status, live events.
	do(t, ctx, "ops page",
		chromedp.Navigate(s.URL+"/ops"),
		chromedp.WaitVisible(chromedp.ID("ops-token")),
		chromedp.SendKeys(chromedp.ID("ops-token"), s.OpsToken),
		chromedp.Click(chromedp.CSS(`#signin-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("console")),
		waitFor(`document.querySelectorAll('#events li').length >= 4 && document.querySelector('[data-count="VERIFIED"]').textContent === '2' && document.querySelector('[data-count="FAILED"]').textContent === '1'`, 10*time.Second))
	feed := get(t, ctx, "event feed", chromedp.Text(chromedp.ID("events")))
	if !strings.Contains(feed, "Role Verified") || !strings.Contains(feed, "Role Verification Failed") || !strings.Contains(feed, "EXTERNAL_ID_NOT_ENFORCED") {
		t.Errorf("event feed %q", feed)
	}
	screenshot(t, ctx, dir, "09-ops")

	// The tenants: each with its live connections (every status but
	// DISCONNECTED) against its limit, as the API lists them.
	var conns struct {
		Connections []struct{ Status connection.Status } `json:"connections"`
	}
	c.must(c.opsDo("GET", "/v1/tenants/browser/connections", nil), 200).decode(t, &conns)
	live := 0
	for _, cn := range conns.Connections {
		if cn.Status != connection.Disconnected {
			live++
		}
	}
	if got, want := tenantCell(t, ctx, "browser", 2), fmt.Sprintf("%d of 100", live); got != want {
		t.Errorf("tenant browser's live connections show %q, want %q", got, want)
	}

	// A re-check that is refused (the connection was disconnected meanwhile)
	// shows an error; the next action's success replaces it.
	c.must(c.opsDo("DELETE", "/v1/tenants/browser/connections/210987654321", nil), 200)
	do(t, ctx, "refused re-check",
		chromedp.Click(chromedp.CSS(`button[aria-label="Re-check browser / 210987654321"]`)),
		waitFor(`document.getElementById('ops-message').className === 'status error'`, 5*time.Second))

	// A re-check from the ops page shows its result when it finishes.
	do(t, ctx, "re-check",
		chromedp.Click(chromedp.CSS(`button[aria-label="Re-check browser / `+v.Sandbox.AccountID+`"]`)),
		waitFor(`/finished: VERIFIED/.test(document.getElementById('ops-message').textContent)`, 15*time.Second))
	if cls := get(t, ctx, "message class", chromedp.Evaluate[string](`document.getElementById('ops-message').className`)); cls != "status" {
		t.Errorf("the stale error stayed marked after a success: class %q", cls)
	}

	// An invite with a chosen lifetime, and its copy button.
	do(t, ctx, "create an invite",
		chromedp.SendKeys(chromedp.ID("tenant-id"), "browser"),
		chromedp.SetValue(chromedp.ID("invite-ttl"), "3600"),
		chromedp.Click(chromedp.CSS(`#tenant-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("invite-copy")),
		chromedp.Click(chromedp.ID("invite-copy")),
		waitFor(`/Copied/.test(document.getElementById('invite-copied').textContent)`, 5*time.Second))
	link := get(t, ctx, "invite link", chromedp.Text(chromedp.ID("invite-link")))
	if !strings.HasPrefix(link, s.URL+"/connect?invite=") {
		t.Errorf("invite link %q", link)
	}
	var invites struct {
		Invites []struct {
			ExpiresAt time.Time `json:"expiresAt"`
		} `json:"invites"`
	}
	c.must(c.opsDo("GET", "/v1/tenants/browser/invites", nil), 200).decode(t, &invites)
	if n := len(invites.Invites); n == 0 || time.Until(invites.Invites[n-1].ExpiresAt) > time.Hour || time.Until(invites.Invites[n-1].ExpiresAt) < 50*time.Minute {
		t.Errorf("the invite made with \"1 hour\" is not valid for an hour: %+v", invites.Invites)
	}
	if clip, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise)); err == nil && clip != link {
		t.Errorf("the clipboard holds %q, want the invite link", clip)
	}

	// Search and paging: 30 disconnected connections of another tenant.
	paging, err := s.Service.CreateTenant(context.Background(), "paging", "Paging Inc")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		acct := fmt.Sprintf("5555000000%02d", i)
		if _, err := s.Service.Submit(context.Background(), paging, "arn:aws:iam::"+acct+":role/R"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Service.Disconnect(context.Background(), "paging", acct); err != nil {
			t.Fatal(err)
		}
	}
	do(t, ctx, "page through",
		chromedp.Click(chromedp.ID("refresh")),
		waitFor(`document.querySelector('[data-count="DISCONNECTED"]').textContent === '31'`, 10*time.Second),
		chromedp.Click(chromedp.CSS(`button[data-page="DISCONNECTED:next"]`)),
		waitFor(`/Page 2 of 2/.test(document.getElementById('conn-groups').textContent)`, 5*time.Second))
	if n := get(t, ctx, "rows on page 2", chromedp.Evaluate[int](`document.querySelectorAll('#conn-groups table')[document.querySelectorAll('#conn-groups table').length - 1].querySelectorAll('tbody tr').length`)); n != 6 {
		t.Errorf("page 2 of 31 disconnected connections shows %d rows, want 6", n)
	}
	do(t, ctx, "search",
		chromedp.SendKeys(chromedp.ID("conn-search"), "paging"),
		waitFor(`/30 of \d+ connections match/.test(document.getElementById('conn-search-count').textContent)`, 5*time.Second))
	if txt := get(t, ctx, "filtered", chromedp.Text(chromedp.ID("conn-groups"))); strings.Contains(txt, "browser") {
		t.Error("the search for paging still lists tenant browser")
	}
	screenshot(t, ctx, dir, "10-ops-search")
	do(t, ctx, "clear the search", clearField("conn-search"), waitFor(`document.getElementById('conn-search-count').textContent === ''`, 5*time.Second))

	// Re-check all: a confirmation first, then live progress to the end.
	do(t, ctx, "re-check all",
		chromedp.Evaluate[chromedp.Void](`window.confirmed = []; window.confirm = m => { window.confirmed.push(m); return true; }`),
		chromedp.Click(chromedp.ID("sweep-all")),
		waitFor(`window.confirmed.length === 1 && !document.getElementById('sweep-progress').hidden`, 5*time.Second),
		waitFor(`/Sweep finished: 2 checked/.test(document.getElementById('ops-message').textContent)`, 20*time.Second))
	if lbl := get(t, ctx, "progress", chromedp.Text(chromedp.ID("sweep-label"))); !strings.Contains(lbl, "2 of 2 checked") {
		t.Errorf("progress %q", lbl)
	}
	screenshot(t, ctx, dir, "11-ops-sweep")

	// Rotation with a grace period from the page. A server that takes no
	// grace period says so (UNKNOWN_FIELD graceSeconds); the page then
	// asks again and hides the field.
	do(t, ctx, "rotate",
		chromedp.SendKeys(chromedp.ID("rotate-tenant"), "paging"),
		chromedp.SetValue(chromedp.ID("rotate-grace"), "86400"),
		chromedp.Click(chromedp.CSS(`#rotate-form button[type="submit"]`)),
		waitFor(`/Rotated paging: external ID version 2/.test(document.getElementById('rotate-result').textContent)`, 5*time.Second))
	if msg := get(t, ctx, "rotation confirmation", chromedp.Evaluate[string](`window.confirmed[1]`)); !strings.Contains(msg, "1 day") {
		t.Errorf("rotation confirmation %q does not name the grace period", msg)
	}
	if tn, err := s.Service.Tenant(context.Background(), "paging"); err != nil || tn.ExternalIDVersion != 2 {
		t.Errorf("tenant paging after rotation: %+v, %v", tn, err)
	}
	screenshot(t, ctx, dir, "12-ops-rotated")

	// The connection limit: refused with the API's message out of range,
	// set within it.
	// The tenants list shows each tenant's external ID: paging's rotation
	// completed at once (no live connection rests on version 1), while
	// browser's, from the API, keeps version 1 for its connections' grace.
	// Its Set limit button fills the limit form with the tenant and its
	// limit.
	c.must(c.opsDo("POST", "/v1/tenants/browser/external-id/rotate", map[string]int{"graceSeconds": 86400}), 200)
	do(t, ctx, "the rotations in the tenants list",
		chromedp.Click(chromedp.ID("refresh")),
		waitFor(`/version 1 accepted until/.test(document.getElementById('tenant-list').textContent)`, 10*time.Second))
	if got := tenantCell(t, ctx, "browser", 3); !strings.HasPrefix(got, "version 2version 1 accepted until ") {
		t.Errorf("tenant browser's external ID shows %q, want version 2 and the grace of version 1", got)
	}
	if got := tenantCell(t, ctx, "paging", 3); got != "version 2" {
		t.Errorf("tenant paging's external ID shows %q, want version 2 alone", got)
	}
	do(t, ctx, "set limit from the tenants list",
		chromedp.Click(chromedp.CSS(`button[aria-label="Set limit paging"]`)),
		waitFor(`document.getElementById('limit-tenant').value === 'paging' && document.getElementById('limit-max').value === '100' && document.activeElement.id === 'limit-max'`, 5*time.Second))
	do(t, ctx, "limit out of range",
		clearField("limit-max"),
		chromedp.SendKeys(chromedp.ID("limit-max"), "0"),
		chromedp.Click(chromedp.CSS(`#limit-form button[type="submit"]`)),
		waitFor(`/from 1 to 10000/.test(document.getElementById('limit-error').textContent) && !document.getElementById('limit-error').hidden`, 5*time.Second))
	do(t, ctx, "set the limit",
		clearField("limit-max"),
		chromedp.SendKeys(chromedp.ID("limit-max"), "250"),
		chromedp.Click(chromedp.CSS(`#limit-form button[type="submit"]`)),
		waitFor(`/paging may now have 250 live connections/.test(document.getElementById('limit-result').textContent) && document.getElementById('limit-error').hidden`, 5*time.Second))
	if tn, err := s.Service.Tenant(context.Background(), "paging"); err != nil || tn.MaxConnections != 250 {
		t.Errorf("tenant paging after the page set its limit: %+v, %v", tn, err)
	}
	do(t, ctx, "the limit in the tenants list",
		waitFor(`[...document.querySelectorAll('#tenant-list tr')].some(r => r.cells[0].textContent === 'paging' && r.cells[2].textContent === '0 of 250')`, 20*time.Second))
	screenshot(t, ctx, dir, "13-ops-limit")

	// The token is kept for the tab: a reload needs no sign-in.
	do(t, ctx, "reload ops", chromedp.Navigate(s.URL+"/ops"), chromedp.WaitVisible(chromedp.ID("console")))
}

// tenantCell returns the text of column col (0: tenant ID) of tenant id's
// row in the ops page's tenants list, once the row is there.
func tenantCell(t *testing.T, ctx context.Context, id string, col int) string {
	t.Helper()
	row := fmt.Sprintf(`[...document.querySelectorAll('#tenant-list tbody tr')].find(r => r.cells[0].textContent === %q)`, id)
	do(t, ctx, "tenant "+id+" listed", waitFor(row+` !== undefined`, 10*time.Second))
	return get(t, ctx, "tenant "+id+" cell", chromedp.Evaluate[string](fmt.Sprintf(`%s.cells[%d].textContent`, row, col)))
}

// TestBrowserSandboxStack: the form's "Launch the stack in a sandbox
// account" creates the role and registers it as a stack would; the form
// shows the stack's answer and Connected with nothing pasted.
func TestBrowserSandboxStack(t *testing.T) {
	ctx, _, c := serveWithBrowser(t, testOptions(t, io.Discard))
	dir := artifacts(t)
	_, v := c.tenantWithInvite("browser-stack")
	inv := c.newFormInvite("browser-stack")
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

	// After a rotation with a grace, the connection was verified with the
	// previous external ID (and is not checked again yet): the form tells
	// the customer to list both IDs in the trust policy.
	c.must(c.opsDo("POST", "/v1/tenants/browser-stack/external-id/rotate", map[string]int{"graceSeconds": 86400}), 200)
	do(t, ctx, "reload after a rotation", chromedp.Reload(),
		waitFor(`/previous external ID, accepted until/.test(document.querySelector('#conns tbody').textContent)`, 5*time.Second))
	// Rotated again, the ID it was verified with is retired (superseded):
	// the form says to trust the current ID, not that the old one is
	// still accepted.
	c.must(c.opsDo("POST", "/v1/tenants/browser-stack/external-id/rotate", map[string]int{"graceSeconds": 86400}), 200)
	do(t, ctx, "reload after a second rotation", chromedp.Reload(),
		waitFor(`/an external ID that is no longer accepted/.test(document.querySelector('#conns tbody').textContent) && !/accepted until/.test(document.querySelector('#conns tbody').textContent)`, 5*time.Second))
}

// TestBrowserHostileNames: a tenant name and a partner name made of markup
// show as text on the form, its header and its problem page: no element is
// made of them and no script runs.
func TestBrowserHostileNames(t *testing.T) {
	const partner = `<svg onload="window.pwned=2"><i id="italic">Partner</i> $& $'`
	o := testOptions(t, io.Discard)
	o.PartnerName = partner
	ctx, s, c := serveWithBrowser(t, o)
	const name = `<img src=x onerror="window.pwned=1"><b id="bold">Evil</b> & "Co"`
	c.must(c.opsDo("POST", "/v1/tenants", map[string]string{"tenantId": "evil", "name": name}), 201)
	inv := c.newFormInvite("evil")
	do(t, ctx, "open the form", chromedp.Navigate(inv.URL), chromedp.WaitVisible(chromedp.ID("external-id")))
	const inertJS = `document.querySelectorAll('img, svg, #bold, #italic').length === 0 && window.pwned === undefined`
	h1 := get(t, ctx, "heading", chromedp.Text(chromedp.CSS("#form h1")))
	brand := get(t, ctx, "brand", chromedp.Text(chromedp.CSS("header .brand")))
	if inert := get(t, ctx, "no markup made of the names", chromedp.Evaluate[bool](inertJS)); h1 != "Connect "+name+" to "+partner || brand != partner || !inert {
		t.Errorf("heading %q, brand %q; the names stayed text: %v", h1, brand, inert)
	}
	// An unknown invite: the message names the partner, taken literally
	// (no replacement patterns such as $& expand).
	do(t, ctx, "a problem page", chromedp.Navigate(s.URL+"/connect?invite="+strings.Repeat("a", 39)), chromedp.WaitVisible(chromedp.ID("problem")))
	msg := get(t, ctx, "problem message", chromedp.Text(chromedp.ID("problem-message")))
	brand = get(t, ctx, "problem brand", chromedp.Text(chromedp.CSS("header .brand")))
	if inert := get(t, ctx, "no markup on the problem page", chromedp.Evaluate[bool](inertJS)); brand != partner || !inert || !strings.Contains(msg, "ask "+partner+" for a new one") {
		t.Errorf("problem page: brand %q, message %q; the names stayed text: %v", brand, msg, inert)
	}
	// The ops page's tenants list shows the name as text too.
	do(t, ctx, "the ops page",
		chromedp.Navigate(s.URL+"/ops"),
		chromedp.WaitVisible(chromedp.ID("ops-token")),
		chromedp.SendKeys(chromedp.ID("ops-token"), s.OpsToken),
		chromedp.Click(chromedp.CSS(`#signin-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("console")))
	if listed, inert := tenantCell(t, ctx, "evil", 1), get(t, ctx, "no markup in the tenants list", chromedp.Evaluate[bool](inertJS)); listed != name || !inert {
		t.Errorf("the tenants list shows the name as %q; the names stayed text: %v", listed, inert)
	}
}
