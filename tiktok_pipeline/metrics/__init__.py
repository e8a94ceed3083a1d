"""Pure metric maths on Polars frames: no I/O, tested on their own."""
