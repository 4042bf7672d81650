package store

// OpenWaitingForRoom is Open with how long a new PostgreSQL connection
// waits for room, and the logger, chosen by the test.
var OpenWaitingForRoom = open
