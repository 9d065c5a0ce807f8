"""The side-by-side benchmark of issue 3: yiwang against Hive Gateway on the same mock departments."""
