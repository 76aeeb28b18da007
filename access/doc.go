// Package access lets a partner's own services use the customer
// connections RoleCall has verified: given the service's AWS configuration
// and the RoleCall API, Credentials returns an aws.CredentialsProvider for
// one connection that any AWS SDK client can use.
//
// The path is the one RoleCall's verifier takes: the service's own
// credentials assume the partner access role (rolecall-<stage>-access, the
// one principal customers' roles trust), and that session assumes the
// customer's role with the tenant's external ID (role chaining). Both
// sessions are cached and reused until a few minutes before they expire.
//
// Both calls go to STS in the Region of the service's configuration, or,
// when it names none, in the default Region of the access role's
// partition: us-east-1 for arn:aws:…, cn-north-1 for arn:aws-cn:…,
// us-gov-west-1 for arn:aws-us-gov:…. The access role's partition is the
// one that counts: its STS issues the access role's session, takes no
// credentials scoped to another partition, and holds the customer roles
// (RoleCall accepts only roles of its own partition). A configured Region
// of another partition would have every call refused, so it is refused
// first, with a *RegionError (which matches ErrAccessRole). Client.Config
// keeps the configuration's Region, none included: SDK clients made from
// it need one of the connection's partition.
//
// Only VERIFIED connections are handed out: any other status is refused
// with a *NotVerifiedError that carries the status and RoleCall's reason.
// When the customer's role refuses the service (AccessDenied), the
// provider asks RoleCall to re-check the connection, at most once per
// RecheckEvery, so that the failure reaches the partner's operations as a
// RoleCall event instead of a silent retry loop. A failed refresh is
// answered again, without calling RoleCall or STS, until a backoff has
// passed (*RetryLaterError), so a broken connection costs the partner
// account little of its STS quota however often it is used.
//
// API is the one client of RoleCall's operations routes: it authorizes
// requests (BearerToken for `rolecall serve`, SigV4 for a deployed API)
// and decodes refusals into *NotVerifiedError and *APIError. Its methods
// cover the routes workloads need; API.Do sends a request to any other
// route, which is how RoleCall's own command line is built on it.
//
// Credentials are never logged and never leave the provider except to the
// SDK client that asked for them.
package access
