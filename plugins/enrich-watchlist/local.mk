# plugins/enrich-watchlist: automake fragment included by the top Makefile.am (paths from the top).
