// Package lua embeds the Lua scripts of the stock gate (go:embed cannot reach them from dal/redis). Each script
// is one file whose header states its KEYS, ARGV, return values and the invariant it keeps; every key comes in
// through KEYS, so one script touches one Redis Cluster slot.
//
// It owns the scripts' text and nothing else: dal/redis runs them, builds their keys and reads their replies,
// and is the only importer outside tests. No Go logic belongs here.
package lua

import _ "embed"

// Reserve is reserve.lua: the atomic reservation of the order path.
//
//go:embed reserve.lua
var Reserve string

// Ack is ack.lua: the writer acknowledges a committed batch and trims the stream.
//
//go:embed ack.lua
var Ack string

// DeadLetter is deadletter.lua: an order Postgres can never take moves to the dead letters, once.
//
//go:embed deadletter.lua
var DeadLetter string

// Apply is apply.lua: a Postgres stock change applied once and in version order.
//
//go:embed apply.lua
var Apply string

// Load is load.lua: a disc put into Redis whole, never over live stock.
//
//go:embed load.lua
var Load string

// Adjust is adjust.lua: reconcile's additive repair of a disc's counts.
//
//go:embed adjust.lua
var Adjust string
