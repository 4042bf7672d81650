package graph

//go:generate go tool gqlgen generate

// Resolver holds the domain services the resolvers call. It holds no state of
// its own: every rule lives in the internal packages.
type Resolver struct{}
