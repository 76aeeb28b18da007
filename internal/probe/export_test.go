package probe

// Backoff exposes retryDelay to the external tests.
var Backoff = retryDelay
