package probe

// Backoff exposes retryDelay to the external tests.
var Backoff = retryDelay

// DecoyFor exposes decoyFor to the external tests.
var DecoyFor = decoyFor
