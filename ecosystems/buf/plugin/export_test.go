package plugin

// CompiledLen is how many compiled modules r holds in memory.
func CompiledLen(r *Runner) int { return r.compiled.len() }
