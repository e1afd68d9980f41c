"""Destinations over `pyarrow.fs`: one store (`store.ArrowStore`) and one module per scheme
(`gcs`, `azure`, `hdfs`) with its options and filesystem. Nothing here imports pyarrow: the
registry imports a scheme's module only when a destination uses it."""
