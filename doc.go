// Package zan holds the domain of the zan like platform: its types, the
// errors with the codes of the HTTP contract, and the interfaces that the
// adapters (memory, redis, sqlite, mysql, natslog, ...) implement.
//
// Nothing in this package knows which adapter runs; cmd/zan wires them.
package zan
