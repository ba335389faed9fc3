# plugins/source-file: automake fragment included by the top Makefile.am (paths from the top).
