//go:build !presence_mutants

package mutate

// Enabled is false: no defect can be put back in this build.
const Enabled = false

// Active reports whether m is put back: never, in this build.
func Active(Mutation) bool { return false }
