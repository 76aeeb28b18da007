package check

// Backoff exposes retryDelay to the external tests.
var Backoff = retryDelay
