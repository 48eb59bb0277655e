package layout_test

import (
	"fmt"

	"github.com/presence-go/presence/internal/layout"
)

// A sequence is one bit of one field of a slot document's alive or dead
// part; every reader of field names reads the name back to its index.
func ExampleFieldOf() {
	fieldKey, fieldBit, _ := layout.FieldOf(1000)
	index, _ := layout.ParseField(fieldKey, layout.AsWritten)
	fmt.Printf("field %q bit %#x, index %d\n", fieldKey, fieldBit, index)
	fmt.Println(layout.SeqAt(index, 55))
	// Output:
	// field "f" bit 0x80000000000000, index 15
	// 1000
}

// Each reader takes its own spelling of field names: a batcher takes a
// ping's only as a pinger writes it, the fast decoder upper-case digits
// too, and Juju's reader leading zeros beyond 16 digits as well.
func ExampleParseField() {
	for _, name := range []string{"f", "F", "0000000000000000f"} {
		fmt.Printf("%-18q", name)
		for _, spelling := range []layout.Spelling{layout.AsWritten, layout.UpperCase, layout.UpperCase | layout.ZeroPadded} {
			if index, fault := layout.ParseField(name, spelling); fault == layout.FieldOK {
				fmt.Printf(" %2d", index)
			} else {
				fmt.Print("  -")
			}
		}
		fmt.Println()
	}
	// Output:
	// "f"                15 15 15
	// "F"                 - 15 15
	// "0000000000000000f"  -  - 15
}
