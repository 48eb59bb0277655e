package slot

import (
	"testing"
	"time"
)

func TestOf(t *testing.T) {
	cases := []struct {
		unix, period, want int64
	}{
		{0, 30, 0},
		{29, 30, 0},
		{30, 30, 30},
		{1700000015, 30, 1700000010},
		{1700000010, 30, 1700000010},
		{1700000009, 30, 1699999980},
		{5, 1, 5},
		{-1, 30, -30},
		{-30, 30, -30},
	}
	for _, c := range cases {
		if got := Of(c.unix, c.period); got != c.want {
			t.Errorf("Of(%d, %d) = %d, want %d", c.unix, c.period, got, c.want)
		}
	}
}

func TestAtAppliesDelta(t *testing.T) {
	now := time.Unix(1700000025, 0)
	if got := At(now, 0, 30*time.Second); got != 1700000010 {
		t.Errorf("no skew: got %d", got)
	}
	// The server is 16 s ahead: its slot has already moved on.
	if got := At(now, 16*time.Second, 30*time.Second); got != 1700000040 {
		t.Errorf("server ahead: got %d", got)
	}
	// The server is 16 s behind: it is still in the previous slot.
	if got := At(now, -16*time.Second, 30*time.Second); got != 1699999980 {
		t.Errorf("server behind: got %d", got)
	}
}

func TestSecondsAndNormalize(t *testing.T) {
	if got := Seconds(30 * time.Second); got != 30 {
		t.Errorf("Seconds(30s) = %d", got)
	}
	if got := Seconds(200 * time.Millisecond); got != 1 {
		t.Errorf("Seconds(200ms) = %d, want the floor of 1", got)
	}
	if p, ok := Normalize(2500 * time.Millisecond); !ok || p != 2*time.Second {
		t.Errorf("Normalize(2.5s) = %v, %v", p, ok)
	}
	if _, ok := Normalize(999 * time.Millisecond); ok {
		t.Errorf("Normalize(999ms) accepted")
	}
}

func TestLive(t *testing.T) {
	prev, cur := Live(60, 30)
	if prev != 30 || cur != 60 {
		t.Errorf("Live(60, 30) = %d, %d", prev, cur)
	}
}

func TestNextPingIsInTheNextSlotsWindow(t *testing.T) {
	for _, period := range []time.Duration{time.Second, 2 * time.Second, 7 * time.Second, 30 * time.Second} {
		periodSeconds := Seconds(period)
		for _, random := range []float64{0, 0.5, 0.999999} {
			offset := PingOffset(period, random)
			if offset < 0 || offset >= PingWindow(period) {
				t.Errorf("PingOffset(%v, %v) = %v, outside [0, %v)", period, random, offset, PingWindow(period))
			}
			next := NextPing(1700000010, periodSeconds, offset)
			if got, want := Of(next.Unix(), periodSeconds), Of(1700000010, periodSeconds)+periodSeconds; got != want {
				t.Errorf("period %v, offset %v: next ping in slot %d, want %d", period, offset, got, want)
			}
		}
	}
}

func TestWriteSlack(t *testing.T) {
	cases := []struct {
		period, flush, want time.Duration
	}{
		{30 * time.Second, time.Second, 21300 * time.Millisecond},
		{2 * time.Second, 200 * time.Millisecond, 1260 * time.Millisecond},
		{time.Second, MaxFlushInterval(time.Second), 450 * time.Millisecond},
	}
	for _, c := range cases {
		if got := WriteSlack(c.period, c.flush); got != c.want {
			t.Errorf("WriteSlack(%v, %v) = %v, want %v", c.period, c.flush, got, c.want)
		}
	}
	// At every accepted combination, most of the slot is left for the write.
	for period := time.Second; period <= 30*time.Second; period += time.Second {
		if got := WriteSlack(period, MaxFlushInterval(period)); got < period*2/5 {
			t.Errorf("WriteSlack(%v, %v) = %v, less than 40%% of the period", period, MaxFlushInterval(period), got)
		}
	}
}
