package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rolecall/rolecall/internal/app"
	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/emulator"
	"github.com/rolecall/rolecall/internal/httpapi"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
)

// latency: submit → VERIFIED through `rolecall serve` (emulator.Start) with
// the sandbox STS answering after STSLatency, then POST /v1/connections
// under an open-loop load, against the API alone and against serve.
func latency(ctx context.Context, cfg Config, r *Report) error {
	// The load comes through one invite of one tenant: lift the invite's
	// rate limit and give the tenant the largest connection limit.
	s, err := emulator.Start(ctx, emulator.Options{Addr: "127.0.0.1:0", SweepEvery: -1, SandboxLatency: cfg.STSLatency, Events: io.Discard, Log: quiet,
		SubmissionsPerMinute: benchSubmissionsPerMinute})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = s.Shutdown(sctx)
	}()
	t, err := s.Service.CreateTenantWith(ctx, "bench", "Bench", benchTenant())
	if err != nil {
		return err
	}
	code, _, err := s.Service.CreateInvite(ctx, t.ID)
	if err != nil {
		return err
	}
	// Roles for every submission of this scenario, so checks succeed as
	// they would for customers who followed the guide.
	total := cfg.LatencySamples + int((cfg.LoadWarmup+cfg.LoadDuration).Seconds()*float64(cfg.LoadRate)) + 1
	for i := range total {
		if err := s.Sandbox.PutRole(roleARN(i), trustPolicy(t.ExternalID, s.PartnerPrincipalARN)); err != nil {
			return err
		}
	}

	var mu sync.Mutex
	verified := map[string]chan time.Time{}
	waitFor := func(account string) chan time.Time {
		mu.Lock()
		defer mu.Unlock()
		ch, ok := verified[account]
		if !ok {
			ch = make(chan time.Time, 1)
			verified[account] = ch
		}
		return ch
	}
	s.Bus.Subscribe(string(connection.RoleVerified), func(ctx context.Context, env bus.Envelope) error {
		at := time.Now()
		var d struct {
			AccountID string `json:"accountId"`
		}
		if err := json.Unmarshal(env.Detail, &d); err != nil {
			return err
		}
		select {
		case waitFor(d.AccountID) <- at:
		default:
		}
		return nil
	})

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512}, Timeout: 30 * time.Second}
	submit := func(i int) (int, error) {
		body, _ := json.Marshal(map[string]string{"roleArn": roleARN(i)})
		req, err := http.NewRequestWithContext(ctx, "POST", s.URL+"/v1/connections", bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Invite "+code)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}

	area := "Latency"
	var lat []time.Duration
	for i := range cfg.LatencySamples {
		ch := waitFor(accountID(i))
		start := time.Now()
		status, err := submit(i)
		if err != nil || status != http.StatusAccepted {
			return fmt.Errorf("submit %s: %d %v", roleARN(i), status, err)
		}
		select {
		case at := <-ch:
			lat = append(lat, at.Sub(start))
		case <-time.After(10 * time.Second):
			return fmt.Errorf("%s not VERIFIED after 10 s", roleARN(i))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p50, worst := percentile(lat, 50), percentile(lat, 100)
	r.add(Row{Area: area, Measure: fmt.Sprintf("submit → VERIFIED in serve mode (%d submissions one after another, STS %s per call; until the Role Verified event reaches a bus rule)",
		len(lat), ms(cfg.STSLatency)), Value: fmt.Sprintf("p50 %s, max %s", ms(p50), ms(worst)),
		Goal: "≤ 1 s", Verdict: atMost(worst.Seconds(), 1, " s")})

	// The API alone: the handler the API Lambda runs, on the embedded store.
	alone, err := apiAlone(ctx)
	if err != nil {
		return err
	}
	defer alone.close()
	for _, target := range []struct {
		name, url, code string
		first           int
	}{
		{"the API alone (httpapi + onboarding on the embedded store)", alone.url, alone.code, 0},
		{"serve mode (the whole pipeline verifying what is submitted)", s.URL, code, cfg.LatencySamples},
	} {
		res, err := loadTest(ctx, client, target.url, target.code, target.first, cfg)
		if err != nil {
			return fmt.Errorf("load on %s: %w", target.name, err)
		}
		r.add(Row{Area: area, Measure: fmt.Sprintf("POST /v1/connections at %d rps for %s, %s", cfg.LoadRate, cfg.LoadDuration, target.name),
			Value: fmt.Sprintf("p50 %s, p99 %s, max %s (%d requests, %.0f rps achieved)", ms(res.p50), ms(res.p99), ms(res.max), res.n, res.rate),
			Goal:  "p99 ≤ 10 ms", Verdict: atMost(float64(res.p99.Microseconds())/1000, 10, " ms")})
	}
	r.Notes = append(r.Notes, "API latency is measured open-loop (from when each request was due, so a stalled server cannot hide queueing) by a Go load generator in the same process, sharing the cores with the server.")
	return nil
}

// apiServer is the API handler served on loopback.
type apiServer struct {
	url, code string
	close     func()
}

// apiAlone serves the HTTP API as the API Lambda wires it, with the
// embedded store and queue instead of DynamoDB and SQS.
func apiAlone(ctx context.Context) (*apiServer, error) {
	s := app.API{Partner: app.Partner{AccountID: partnerAccount, TrustedPrincipalARN: partnerPrincipal},
		SubmissionsPerMinute: benchSubmissionsPerMinute, Policy: connection.DefaultPolicy()}
	c := app.Components{Region: benchRegion, Store: store.NewMemory(), Registrations: store.NewMemoryRegistrations(), Queue: queue.NewMemory(), Log: quiet}
	svc := app.Onboarding(s.Partner, s.Policy, s.SubmissionsPerMinute, c)
	cfg := app.APIConfig(s, svc, &onboarding.Registrations{Service: svc, Tokens: c.Registrations}, c)
	// A bearer token stands in for API Gateway's IAM authorizer.
	ops, err := httpapi.NewBearerToken("bench-ops-token")
	if err != nil {
		return nil, err
	}
	cfg.Ops = ops
	h, err := httpapi.New(cfg)
	if err != nil {
		return nil, err
	}
	if _, err := svc.CreateTenantWith(ctx, "bench", "Bench", benchTenant()); err != nil {
		return nil, err
	}
	code, _, err := svc.CreateInvite(ctx, "bench")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &apiServer{url: "http://" + ln.Addr().String(), code: code, close: func() { _ = srv.Close() }}, nil
}

// benchSubmissionsPerMinute lifts the per-invite rate limit above any load
// the benchmark offers.
const benchSubmissionsPerMinute = 1 << 30

// benchTenant is the benchmark's tenant: the largest connection limit, as
// every submission adds a connection (at most LatencySamples +
// LoadRate × (LoadWarmup + LoadDuration), 5,531 by default).
func benchTenant() onboarding.TenantOptions {
	n := tenant.MaxMaxConnections
	return onboarding.TenantOptions{MaxConnections: &n}
}

type loadResult struct {
	p50, p99, max time.Duration
	n             int
	rate          float64
}

// loadTest submits distinct roles (accounts from first on) at cfg.LoadRate
// per second, open loop: request i is due at start + i/rate whatever
// happened before, and its latency counts from then. The warm-up's
// requests are not counted. Every request must be accepted.
func loadTest(ctx context.Context, client *http.Client, url, code string, first int, cfg Config) (loadResult, error) {
	interval := time.Second / time.Duration(cfg.LoadRate)
	warm := int(cfg.LoadWarmup / interval)
	n := int(cfg.LoadDuration / interval)
	bodies := make([][]byte, warm+n)
	for i := range bodies {
		bodies[i], _ = json.Marshal(map[string]string{"roleArn": roleARN(first + i)})
	}
	lat := make([]time.Duration, len(bodies))
	errs := make([]error, len(bodies))
	var wg sync.WaitGroup
	start := time.Now()
	for i, b := range bodies {
		due := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		wg.Go(func() {
			req, err := http.NewRequestWithContext(ctx, "POST", url+"/v1/connections", bytes.NewReader(b))
			if err != nil {
				errs[i] = err
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Invite "+code)
			resp, err := client.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			lat[i] = time.Since(due)
			if resp.StatusCode != http.StatusAccepted {
				errs[i] = fmt.Errorf("request %d: status %d", i, resp.StatusCode)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start.Add(time.Duration(warm) * interval))
	for _, err := range errs {
		if err != nil {
			return loadResult{}, err
		}
	}
	measured := lat[warm:]
	return loadResult{p50: percentile(measured, 50), p99: percentile(measured, 99), max: percentile(measured, 100),
		n: len(measured), rate: float64(len(measured)) / elapsed.Seconds()}, nil
}
