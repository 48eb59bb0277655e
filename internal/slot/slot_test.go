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

func TestPingInterval(t *testing.T) {
	cases := []struct {
		period, want time.Duration
	}{
		{30 * time.Second, 23250 * time.Millisecond},
		{10 * time.Second, 8250 * time.Millisecond},
		{2 * time.Second, time.Second},
		{time.Second, 500 * time.Millisecond},
	}
	for _, c := range cases {
		got := PingInterval(c.period)
		if got != c.want {
			t.Errorf("PingInterval(%v) = %v, want %v", c.period, got, c.want)
		}
		// Whatever the period, two pings are never more than one period
		// apart, so a live pinger always shows in two consecutive slots.
		if got >= c.period {
			t.Errorf("PingInterval(%v) = %v is not shorter than the period", c.period, got)
		}
	}
}
