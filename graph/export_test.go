package graph

// Held returns the connections and subscriptions counted against a
// principal ("key:<id>", "user:<id>") or a client address.
func (l *LiveConnections) Held(principalOrAddress string) (conns, subs int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.byPrincipal[principalOrAddress]
	if u == nil {
		u = l.byAddress[principalOrAddress]
	}
	if u == nil {
		return 0, 0
	}
	return u.conns, u.subs
}
