//go:build presence_mutants

package mutate

import "sync/atomic"

// Enabled is true: this build can put a defect back.
const Enabled = true

// active is the mutation put back, or None.
var active atomic.Int32

// Set puts back m, and only m (None: none).
func Set(m Mutation) { active.Store(int32(m)) }

// Active reports whether m is put back.
func Active(m Mutation) bool { return Mutation(active.Load()) == m }
