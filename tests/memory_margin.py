"""The fixed margin of the memory-budget formula, shared by the test and the benchmark harness.

Peak RSS under concurrent transfers must stay within budget + idle footprint + this margin.
What is resident beyond the idle process and the budgeted buffers: per-connection stream and
socket buffers (up to ~0.75 MiB each, with READ_PIECE reads), botocore request objects, the
1 MiB signing reads, allocator slack. Measured: 35 MiB over budget + idle at 32 concurrent
40 MiB transfers; the same load without a budget peaked at 611 MiB.
"""

MARGIN_MIB = 80
