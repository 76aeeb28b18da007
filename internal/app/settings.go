package app

import (
	"fmt"
	"time"

	"github.com/rolecall/rolecall/internal/config"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/publish"
	"github.com/rolecall/rolecall/internal/register"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/rolesetup"
	"github.com/rolecall/rolecall/internal/stsbudget"
	"github.com/rolecall/rolecall/internal/sweep"
)

// Resources name the AWS resources a function uses; each function's
// AWSComponents builds a component for each one set that it uses.
type Resources struct {
	TableName        string // the DynamoDB table: Store and Registrations
	QueueURL         string // Queue
	PriorityQueueURL string // PriorityQueue
	// AccessRoleARN is the partner access role the checker's STS calls
	// chain through (customer roles trust it only): STS.
	AccessRoleARN string
	// STSRegions are Regions besides the deployment's whose STS quota the
	// budget also uses.
	STSRegions []string
	// STSIdleConns is how many idle connections to STS each client keeps
	// (default stsclient.DefaultIdleConns, one per probe of the checks a
	// Lambda instance runs at once); serve runs more checks at once.
	STSIdleConns int
}

// Partner is who the partner is, as customer roles and submissions see it.
type Partner struct {
	// AccountID is the partner's own account: submissions naming it are
	// refused.
	AccountID string
	// TrustedPrincipalARN is the principal customer roles trust; its
	// partition is the deployment's.
	TrustedPrincipalARN string
}

// API is the API function's settings.
type API struct {
	Resources
	Partner
	PartnerName          string
	EventSource          string
	TemplateURL          string // customer-role.yaml, for quick-create links
	RoleNamePrefix       string
	RegistrationTopicARN string
	SubmissionsPerMinute int
	Policy               connection.Policy
}

// ReadAPI reads the API function's settings. A CUSTOMER_ROLE_TEMPLATE_URL
// that quick-create links cannot use (not an S3 object URL), or a
// REGISTRATION_TOPIC_ARN that is no SNS topic of the partner's partition,
// is refused, so the function fails at start rather than every invite's
// setup (or, for the topic, every registration token minted for nothing).
func ReadAPI(env *config.Env) API {
	templateURL := env.StringOr("CUSTOMER_ROLE_TEMPLATE_URL", "")
	if templateURL != "" {
		if err := rolesetup.ValidateTemplateURL(templateURL); err != nil {
			env.Fail(fmt.Errorf("CUSTOMER_ROLE_TEMPLATE_URL=%s: %w", templateURL, err))
			templateURL = ""
		}
	}
	partner := readPartner(env)
	topicARN := env.StringOr("REGISTRATION_TOPIC_ARN", "")
	if topicARN != "" {
		if err := rolesetup.ValidateTopicARN(topicARN, rolearn.PartitionOr(partner.TrustedPrincipalARN, "aws")); err != nil {
			env.Fail(fmt.Errorf("REGISTRATION_TOPIC_ARN=%s: %w", topicARN, err))
			topicARN = ""
		}
	}
	return API{
		Resources: Resources{TableName: env.String("TABLE_NAME"), QueueURL: env.String("VERIFY_QUEUE_URL")},
		Partner:   partner,

		TemplateURL:          templateURL,
		RoleNamePrefix:       env.StringOr("CUSTOMER_ROLE_NAME_PREFIX", ""),
		RegistrationTopicARN: topicARN,
		EventSource:          env.StringOr("EVENT_SOURCE", publish.DefaultSource),
		PartnerName:          env.StringOr("PARTNER_NAME", ""),
		SubmissionsPerMinute: env.IntIn("SUBMISSIONS_PER_INVITE_PER_MINUTE", onboarding.DefaultSubmissionsPerMinute, 1, 1000),
		Policy:               connection.DefaultPolicy(),
	}
}

func readPartner(env *config.Env) Partner {
	return Partner{AccountID: env.String("PARTNER_ACCOUNT_ID"), TrustedPrincipalARN: env.String("TRUSTED_PRINCIPAL_ARN")}
}

// Publish is the publish function's settings.
type Publish struct {
	Resources
	BusName string
	Source  string
}

// ReadPublish reads the publish function's settings.
func ReadPublish(env *config.Env) Publish {
	return Publish{BusName: env.String("EVENT_BUS_NAME"), Source: env.StringOr("EVENT_SOURCE", publish.DefaultSource)}
}

// Register is the registration function's settings.
type Register struct {
	Resources
	Partner
	// Wait is how long a Create waits for the first check's outcome.
	Wait time.Duration
	// Poll is the pause between reads of the outcome (default the
	// handler's).
	Poll time.Duration
	// AllowLoopback accepts response URLs on this machine: only the
	// sandbox, which plays CloudFormation's response bucket.
	AllowLoopback bool
	Policy        connection.Policy
}

// ReadRegister reads the registration function's settings. A
// REGISTRATION_WAIT that no function could fit (Lambda's longest timeout,
// less the time the handler keeps to answer) is refused. The function's
// own timeout is not in its environment: the handler cuts the wait short
// at the invocation's deadline instead, and the template's test keeps the
// deployed timeout above the wait and the answer.
func ReadRegister(env *config.Env) Register {
	wait := env.DurationOr("REGISTRATION_WAIT", register.DefaultWait)
	if most := maxRegistrationWait(); wait > most {
		env.Fail(fmt.Errorf("REGISTRATION_WAIT=%v does not fit a Lambda function: at most %v (the %v timeout limit less %v to answer)",
			wait, most, maxFunctionTimeout, register.AnswerReserve(register.DefaultAnswerTimeout)))
		wait = register.DefaultWait
	}
	return Register{
		Resources: Resources{TableName: env.String("TABLE_NAME")},
		Partner:   readPartner(env),
		Wait:      wait,
		Policy:    connection.DefaultPolicy(),
	}
}

// maxFunctionTimeout is the longest timeout Lambda allows a function.
const maxFunctionTimeout = 15 * time.Minute

// maxRegistrationWait is the longest REGISTRATION_WAIT ReadRegister
// accepts: what a function of the longest timeout has left once the
// registration handler keeps its reserve to record and send the answer.
func maxRegistrationWait() time.Duration {
	return maxFunctionTimeout - register.AnswerReserve(register.DefaultAnswerTimeout)
}

// Sweep is the sweep function's settings.
type Sweep struct {
	Resources
	// Interval between routine checks of verified roles.
	Interval time.Duration
	// Every is the schedule's interval.
	Every            time.Duration
	MetricsNamespace string
	// Plan is the STS budget the sweep paces to; zero: unpaced.
	Plan stsbudget.Plan
}

// ReadSweep reads the sweep function's settings.
func ReadSweep(env *config.Env) Sweep {
	return Sweep{
		Resources:        Resources{TableName: env.String("TABLE_NAME"), QueueURL: env.String("VERIFY_QUEUE_URL"), STSRegions: readRegions(env)},
		Interval:         readCheckInterval(env, connection.DefaultPolicy().VerifiedInterval),
		Every:            env.DurationOr("SWEEP_EVERY", sweep.DefaultEvery),
		MetricsNamespace: env.StringOr("METRICS_NAMESPACE", "RoleCall"),
		Plan:             readPlan(env),
	}
}

// Verify is the verify function's settings.
type Verify struct {
	Resources
	// QueueARN and PriorityQueueARN tell the two queues' messages apart.
	QueueARN, PriorityQueueARN string
	Policy                     connection.Policy
	// Plan is the STS budget the workers pace to; zero: unpaced.
	Plan stsbudget.Plan
	// RoutineConcurrency bounds the routine worker's checks at once
	// (default verify.DefaultConcurrency).
	RoutineConcurrency int
	// CheckBaseDelay is the checker's first retry delay (default the
	// checker's). The function reads none from its environment: the bench
	// and serve's tests shorten it.
	CheckBaseDelay time.Duration
}

// ReadVerify reads the verify function's settings.
func ReadVerify(env *config.Env) Verify {
	p := connection.DefaultPolicy()
	p.VerifiedInterval = readCheckInterval(env, p.VerifiedInterval)
	// The ranges are template.yaml's parameters' (MinValue, MaxValue).
	p.FailedIntervalMax = env.DurationIn("FAILED_CHECK_MAX_INTERVAL", p.FailedIntervalMax, 10*time.Minute, 10080*time.Minute)
	p.LostIntervalMax = env.DurationIn("ACCESS_LOST_CHECK_MAX_INTERVAL", p.LostIntervalMax, 10*time.Minute, 1440*time.Minute)
	const day = 24 * time.Hour
	p.AbandonAfter = time.Duration(env.IntIn("ABANDON_FAILED_AFTER_DAYS", int(p.AbandonAfter/day), 1, 365)) * day
	return Verify{
		Resources: Resources{
			TableName:        env.String("TABLE_NAME"),
			QueueURL:         env.String("VERIFY_QUEUE_URL"),
			AccessRoleARN:    env.String("ACCESS_ROLE_ARN"),
			PriorityQueueURL: env.StringOr("PRIORITY_QUEUE_URL", ""),
			STSRegions:       readRegions(env),
		},
		QueueARN:           env.StringOr("VERIFY_QUEUE_ARN", ""),
		PriorityQueueARN:   env.StringOr("PRIORITY_QUEUE_ARN", ""),
		Policy:             p,
		Plan:               readPlan(env),
		RoutineConcurrency: stsbudget.InFlight,
	}
}

// readCheckInterval reads the routine re-check interval, in the range of
// template.yaml's CheckInterval parameter (5 to 1440 minutes).
func readCheckInterval(env *config.Env, def time.Duration) time.Duration {
	return env.DurationIn("CHECK_INTERVAL", def, 5*time.Minute, 1440*time.Minute)
}

// readPlan reads the STS budget; its Regions are set by the handler's
// constructor, which knows the deployment's Region.
func readPlan(env *config.Env) stsbudget.Plan {
	return stsbudget.Plan{
		RequestsPerSecond:   env.IntIn("STS_REQUESTS_PER_SECOND", stsbudget.DefaultRequestsPerSecond, 20, 10000),
		PriorityPercent:     env.IntIn("STS_PRIORITY_PERCENT", stsbudget.DefaultPriorityPercent, 1, 50),
		RoutineConcurrency:  env.IntIn("VERIFY_MAX_CONCURRENCY", stsbudget.DefaultConcurrency, 2, 100),
		PriorityConcurrency: env.IntOr("PRIORITY_MAX_CONCURRENCY", stsbudget.DefaultConcurrency),
	}
}

func readRegions(env *config.Env) []string {
	regions, err := stsbudget.ParseRegions(env.StringOr("STS_REGIONS", ""))
	if err != nil {
		env.Fail(err)
	}
	return regions
}

// DefaultVerify are the verify function's settings as ReadVerify reads an
// environment that sets nothing: the lifecycle policy, the STS budget and
// the routine concurrency the deployed function runs with, and no
// resources (`rolecall serve` gives them as components). serve starts
// from them and overrides only what it must.
func DefaultVerify() Verify { return ReadVerify(config.New(unset)) }

// DefaultSweep are the sweep function's settings as ReadSweep reads an
// environment that sets nothing: the deployed schedule, interval and STS
// budget, and no resources.
func DefaultSweep() Sweep { return ReadSweep(config.New(unset)) }

// unset is an environment that sets nothing. The errors it gives the
// required variables (the resources) are not read: those who start from
// the defaults give components instead.
func unset(string) (string, bool) { return "", false }
