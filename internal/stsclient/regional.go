package stsclient

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"

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
type Regional struct {
	names   []string
	clients map[string]probe.Assumer
}

var _ probe.Assumer = (*Regional)(nil)

// NewRegional returns the port over the STS clients of regions (cfg's
// Region first), built by New.
func NewRegional(cfg aws.Config, regions []string, o Options) (*Regional, error) {
	if cfg.Region == "" {
		return nil, ErrNoRegion
	}
	r := &Regional{clients: map[string]probe.Assumer{}}
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
	var err error
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
		if !errors.Is(err, probe.ErrRegionDisabled) {
			return s, err
		}
		stsbudget.SetDisabled(ctx, name)
	}
	if err == nil {
		// Every Region answered RegionDisabledException earlier in this
		// check: the answer stands without asking again.
		err = &probe.STSError{Kind: probe.ErrRegionDisabled, Code: regionDisabledCode, Err: errDisabledEverywhere}
	}
	return probe.Session{}, err
}

// regionDisabledCode is STS's error code for a Region disabled in the
// account asked for credentials.
const regionDisabledCode = "RegionDisabledException"

var errDisabledEverywhere = errors.New("the customer's account answered RegionDisabledException in every STS Region earlier in this check")
