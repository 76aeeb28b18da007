package sweep

import (
	"context"
	"log/slog"
	"time"
)

// report logs what a due sweep did, once per shard and once in all; the
// last line is also a CloudWatch metric in the embedded metric format
// (the _aws member), which CloudWatch Logs turns into the metrics
// EffectiveIntervalSeconds, IntervalStretch, BacklogChecks,
// BacklogAgeSeconds and EnqueuedChecks without a PutMetricData call.
func (s *Sweeper) report(res Result) {
	for _, pc := range res.Parts {
		s.log().Log(context.Background(), quiet(pc.Enqueued+pc.Failed+pc.Skipped == 0 && pc.Done), "swept",
			"mode", res.Mode, "part", pc.Part, "enqueued", pc.Enqueued, "failed", pc.Failed, "skipped", pc.Skipped, "done", pc.Done)
	}
	stretch := 1.0
	if s.Interval > 0 {
		stretch = res.EffectiveInterval.Seconds() / s.Interval.Seconds()
	}
	ns := s.MetricsNamespace
	if ns == "" {
		ns = "RoleCall"
	}
	emf := map[string]any{
		"Timestamp": s.now().UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  ns,
			"Dimensions": [][]string{{}},
			"Metrics": []any{
				map[string]string{"Name": "EffectiveIntervalSeconds", "Unit": "Seconds"},
				map[string]string{"Name": "IntervalStretch", "Unit": "None"},
				map[string]string{"Name": "BacklogChecks", "Unit": "Count"},
				map[string]string{"Name": "BacklogAgeSeconds", "Unit": "Seconds"},
				map[string]string{"Name": "EnqueuedChecks", "Unit": "Count"},
			},
		}},
	}
	nothing := res.Enqueued+res.Failed+res.Skipped+res.RotationsCompleted == 0 && !res.Stopped && !res.Paced && res.Backlog == 0
	s.log().LogAttrs(context.Background(), quiet(nothing), "sweep finished",
		slog.String("mode", res.Mode), slog.Int("enqueued", res.Enqueued), slog.Int("failed", res.Failed),
		slog.Int("skipped", res.Skipped), slog.Int("rotationsCompleted", res.RotationsCompleted),
		slog.Bool("stopped", res.Stopped), slog.Bool("paced", res.Paced),
		slog.String("effectiveInterval", res.EffectiveInterval.Round(time.Second).String()),
		slog.String("maxLag", res.MaxLag.Round(time.Second).String()),
		slog.Any("_aws", emf),
		slog.Float64("EffectiveIntervalSeconds", res.EffectiveInterval.Seconds()),
		slog.Float64("IntervalStretch", stretch),
		slog.Int("BacklogChecks", res.Backlog),
		slog.Float64("BacklogAgeSeconds", res.BacklogAge.Seconds()),
		slog.Int("EnqueuedChecks", res.Enqueued))
}
