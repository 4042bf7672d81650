package graph

// edgeNodes is a connection's nodes shortcut: the node of each edge, in
// the edges' order, so that a client's cache sees the same objects either
// way.
func edgeNodes[E any, N any](edges []E, node func(E) N) []N {
	nodes := make([]N, len(edges))
	for i, e := range edges {
		nodes[i] = node(e)
	}
	return nodes
}
