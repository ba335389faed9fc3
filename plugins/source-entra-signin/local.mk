# plugins/source-entra-signin: automake fragment included by the top Makefile.am (paths from the top).
