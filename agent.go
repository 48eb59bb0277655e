package presence

import "time"

// Agent is implemented by the controller's entities that have a presence of
// their own, so that an API server can ask about any of them in one way.
// The package itself does not use it; it lives here because it returns a
// *Pinger.
type Agent interface {
	// AgentPresence reports whether the agent is alive.
	AgentPresence() (bool, error)
	// SetAgentPresence starts a pinger that keeps the agent alive.
	SetAgentPresence() (*Pinger, error)
	// WaitAgentPresence blocks until the agent is alive or the time runs out.
	WaitAgentPresence(time.Duration) error
}
