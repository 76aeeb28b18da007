package stsclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/rolecall/rolecall/access"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/stsbudget"
)

// Regional is the STS port over one client per Region, for StsRegions:
// each call goes to the Region whose quota admitted its check
// (stsbudget.RegionOf; the first Region without one). A customer account
// that has that Region disabled (RegionDisabledException) is asked again
// in the next Regions in turn, so it is never failed for a Region RoleCall
// chose; only when every Region is disabled does the error stand. The
// check remembers each Region that answered so (stsbudget.SetDisabled):
// its later probes and retries are sent to the next Region at once, and
// paid for there (stsbudget.Pay), instead of asking again where the answer
// is known; a probe that finds every Region so answered fails as disabled
// without a call. Each call is paid for in its own Region's budget
// (stsbudget.Spend), and a call STS throttles slows the Region it was sent
// to down (stsbudget.ThrottledIn).
//
// A Region the partner account refuses (access.RegionRefusedError: an
// opt-in Region it has not enabled, which refuses the access role's
// sessions) says nothing of the customer's account: the call goes on to
// the next Region as well, and the first such refusal of each Region is
// logged, since the check then passes and shows nothing of it; the budget
// then gives the Region no checks for a while (stsbudget.RefusedIn), as
// their calls would all go on and pay again elsewhere. When no Region
// answered otherwise, the refusal stands, transient: the partner's
// configuration, never the customer's account, is at fault.
type Regional struct {
	names   []string
	clients map[string]probe.Assumer
	log     *slog.Logger
	// warned holds the Regions whose refusal by the partner account was
	// logged.
	warned sync.Map
}

var _ probe.Assumer = (*Regional)(nil)

// NewRegional returns the port over the STS clients of regions (cfg's
// Region first), built by New.
func NewRegional(cfg aws.Config, regions []string, o Options) (*Regional, error) {
	if cfg.Region == "" {
		return nil, ErrNoRegion
	}
	r := &Regional{clients: map[string]probe.Assumer{}, log: o.Log}
	for _, name := range stsbudget.RegionList(cfg.Region, regions) {
		// Another partition's STS cannot assume this partition's roles
		// with these credentials: every check sent there would be lost.
		if p, home := rolearn.PartitionOfRegion(name), rolearn.PartitionOfRegion(cfg.Region); p != home {
			return nil, fmt.Errorf("STS Region %s is in partition %s, the deployment's (%s) is in %s: %w", name, p, cfg.Region, home, ErrOtherPartition)
		}
		c := cfg.Copy()
		c.Region = name
		client, err := New(c, o)
		if err != nil {
			return nil, err
		}
		r.names = append(r.names, name)
		r.clients[name] = &probe.STS{Client: client}
	}
	return r, nil
}

// ErrOtherPartition: an STS Region of another partition than the
// deployment's Region.
var ErrOtherPartition = errors.New("STS Region of another partition")

// Regions are the Regions in order, the deployment's first.
func (r *Regional) Regions() []string { return r.names }

// AssumeRole implements probe.Assumer.
func (r *Regional) AssumeRole(ctx context.Context, in probe.AssumeRequest) (probe.Session, error) {
	first := 0
	for i, n := range r.names {
		if n == stsbudget.RegionOf(ctx) {
			first = i
		}
	}
	var err, refusedErr error
	for k := range r.names {
		name := r.names[(first+k)%len(r.names)]
		if stsbudget.Disabled(ctx, name) {
			continue // answered RegionDisabledException earlier in this check
		}
		// The call spends what the check paid for in this Region (its
		// first calls, a retry's Pay), or pays here.
		if perr := stsbudget.Spend(ctx, name); perr != nil {
			return probe.Session{}, &probe.STSError{Kind: probe.ErrTransient, Err: fmt.Errorf("no STS budget in %s for the call: %w", name, perr)}
		}
		var s probe.Session
		s, err = r.clients[name].AssumeRole(ctx, in)
		if se := (*probe.STSError)(nil); errors.As(err, &se) && stsbudget.ThrottlingCodes[se.Code] {
			// Throttled where it was sent, which is not the check's
			// Region after a fallback.
			stsbudget.ThrottledIn(ctx, name)
		}
		if refused := (*access.RegionRefusedError)(nil); errors.As(err, &refused) {
			r.warnRefused(ctx, refused)
			stsbudget.RefusedIn(ctx, name)
			refusedErr = err
			continue
		}
		if !errors.Is(err, probe.ErrRegionDisabled) {
			return s, err
		}
		stsbudget.SetDisabled(ctx, name)
	}
	if refusedErr != nil {
		// A Region the partner account refuses was not asked: the other
		// Regions' RegionDisabledException does not make the customer's
		// account disabled everywhere.
		return probe.Session{}, refusedErr
	}
	if err == nil {
		// Every Region answered RegionDisabledException earlier in this
		// check: the answer stands without asking again.
		err = &probe.STSError{Kind: probe.ErrRegionDisabled, Code: regionDisabledCode, Err: errDisabledEverywhere}
	}
	return probe.Session{}, err
}

// warnRefused logs, once per Region, that the partner account refuses the
// Region's calls, with what to do about it.
func (r *Regional) warnRefused(ctx context.Context, e *access.RegionRefusedError) {
	if _, done := r.warned.LoadOrStore(e.Region, true); done {
		return
	}
	log := r.log
	if log == nil {
		log = slog.Default()
	}
	log.WarnContext(ctx, "an STS Region refuses the partner's calls; checks go to the next Region", "region", e.Region, "error", e.Error())
}

// regionDisabledCode is STS's error code for a Region disabled in the
// account asked for credentials.
const regionDisabledCode = "RegionDisabledException"

var errDisabledEverywhere = errors.New("the customer's account answered RegionDisabledException in every STS Region earlier in this check")
