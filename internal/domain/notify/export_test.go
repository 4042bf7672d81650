package notify

// FanoutLock is the advisory lock the fan-out's batches take turns under.
const FanoutLock = fanoutLock
