package store

// SecondsBetween is an SQL expression for the seconds from the time column
// from to the time column to, in the store's dialect (a fraction on
// SQLite, whose julianday is exact to about a millisecond).
func (s *Store) SecondsBetween(from, to string) string {
	if s.dialect == Postgres {
		return "EXTRACT(EPOCH FROM (" + to + " - " + from + "))"
	}
	return "((julianday(" + to + ") - julianday(" + from + ")) * 86400.0)"
}
