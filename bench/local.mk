# bench/: benchmark suite (automake fragment, paths from the top); `make bench`
