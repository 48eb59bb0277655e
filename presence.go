package presence

// Change holds a liveness change notification.
type Change struct {
	Key   string
	Alive bool
}

// PingRecorder records that the sequence encoded by (fieldKey, fieldBit) is
// alive in a slot of a model. A PingBatcher is one; a Pinger sends its
// pings to one.
type PingRecorder interface {
	Ping(modelUUID string, slot int64, fieldKey string, fieldBit uint64) error
}
